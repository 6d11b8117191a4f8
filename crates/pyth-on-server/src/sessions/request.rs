//! A session's and a cell's request as the API gives them, checked against the server's
//! bounds: [`NewSession::parse`] and [`Cell::parse`].

use std::time::Duration;

use pyth_on_launcher::Language;
use pyth_on_types::{CellRequest, CreateSessionRequest};

use crate::domain::{parse_language, Invalid, VarName};
use crate::secrets::SecretSelection;
use crate::settings::{Settings, MIN_MEMORY_MB};

/// A session to open, checked.
#[derive(Debug)]
pub struct NewSession {
    /// The kernel's language.
    pub language: Language,
    /// Memory limit in MiB.
    pub memory_mb: u64,
    /// Idle timeout.
    pub idle_timeout: Duration,
    /// Lifetime.
    pub max_lifetime: Duration,
    /// The request's variables (the owner's secrets are added when it opens).
    pub env: Vec<(VarName, String)>,
    /// Extra packages as asked (checked against the server when the session opens).
    pub packages: Option<Vec<String>>,
    /// Network as asked (checked against the server when the session opens).
    pub network: Option<bool>,
    /// The owner's secrets it receives.
    pub secrets: SecretSelection,
}

fn within(
    field: &str,
    value: Option<u64>,
    min: u64,
    max: u64,
    default: u64,
) -> Result<u64, Invalid> {
    let value = value.unwrap_or(default);
    if value < min || value > max {
        return Err(Invalid::field(
            field,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(value)
}

impl NewSession {
    /// Checks `req` against `settings` (defaults filled in).
    pub fn parse(settings: &Settings, req: CreateSessionRequest) -> Result<Self, Invalid> {
        let language = parse_language(req.language.as_deref())?;
        let memory_mb = within(
            "memoryMb",
            req.memory_mb,
            MIN_MEMORY_MB,
            settings.max_memory_mb,
            settings.default_memory_mb,
        )?;
        let s = &settings.sessions;
        let idle = within(
            "idleTimeoutSec",
            req.idle_timeout_sec,
            1,
            s.session_idle_timeout_secs,
            s.session_idle_timeout_secs,
        )?;
        let lifetime = within(
            "maxLifetimeSec",
            req.max_lifetime_sec,
            1,
            s.session_max_lifetime_secs,
            s.session_max_lifetime_secs,
        )?;
        let env = crate::execution::parse_env(req.env.unwrap_or_default())?;
        Ok(Self {
            language,
            memory_mb,
            idle_timeout: Duration::from_secs(idle),
            max_lifetime: Duration::from_secs(lifetime),
            env,
            packages: req.packages,
            network: req.network,
            secrets: SecretSelection::parse(req.secrets)?,
        })
    }
}

/// A cell to run, checked.
#[derive(Debug)]
pub struct Cell {
    /// Its source.
    pub code: String,
    /// Its wall-clock limit.
    pub timeout: Duration,
}

/// Why a cell's request is refused.
#[derive(Debug)]
pub enum BadCell {
    /// A field is invalid.
    Invalid(Invalid),
    /// The code is over `--max-code-bytes` (its size, the limit).
    TooLarge(usize, u64),
}

impl Cell {
    /// Checks `req` against `settings`.
    pub fn parse(settings: &Settings, req: CellRequest) -> Result<Self, BadCell> {
        if req.code.len() as u64 > settings.max_code_bytes {
            return Err(BadCell::TooLarge(req.code.len(), settings.max_code_bytes));
        }
        if req.code.contains('\0') {
            return Err(BadCell::Invalid(Invalid::field(
                "code",
                "must not contain NUL",
            )));
        }
        let timeout = within(
            "timeoutMs",
            req.timeout_ms,
            1,
            settings.max_timeout_ms,
            settings.default_timeout_ms,
        )
        .map_err(BadCell::Invalid)?;
        Ok(Self {
            code: req.code,
            timeout: Duration::from_millis(timeout),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_request_gets_the_defaults_and_out_of_range_values_are_refused() {
        let settings = Settings::for_data_dir("/tmp/x");
        let ok = NewSession::parse(&settings, CreateSessionRequest::default()).unwrap();
        assert_eq!(ok.language, Language::Python);
        assert_eq!(ok.idle_timeout, Duration::from_secs(600));
        assert_eq!(ok.max_lifetime, Duration::from_secs(3600));
        let too_idle = CreateSessionRequest {
            idle_timeout_sec: Some(601),
            ..Default::default()
        };
        assert_eq!(
            NewSession::parse(&settings, too_idle).unwrap_err().code,
            "validation_failed"
        );
        let tiny = CreateSessionRequest {
            memory_mb: Some(1),
            ..Default::default()
        };
        assert!(NewSession::parse(&settings, tiny).is_err());
    }

    #[test]
    fn a_cell_needs_bounded_code_and_timeout() {
        let settings = Settings::for_data_dir("/tmp/x");
        let big = CellRequest {
            code: "x".repeat(settings.max_code_bytes as usize + 1),
            timeout_ms: None,
        };
        assert!(matches!(
            Cell::parse(&settings, big),
            Err(BadCell::TooLarge(..))
        ));
        let zero = CellRequest {
            code: "1".into(),
            timeout_ms: Some(0),
        };
        assert!(matches!(
            Cell::parse(&settings, zero),
            Err(BadCell::Invalid(_))
        ));
    }
}
