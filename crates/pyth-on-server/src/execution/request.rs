//! What a run is asked to do, checked against the configured limits: [`RunSettings`] (language,
//! input, limits, packages, network: what every way of running code shares) and the
//! [`Program`] (code the caller sent, or a stored zero-knowledge payload), together a
//! [`RunRequest`]. `/execute` parses both from its body; generate checks the settings before
//! it spends a model call and adds the generated code after; a ZK run adds its payload.

use std::collections::BTreeMap;

use pyth_on_types::ExecuteRequest;
use uuid::Uuid;

use super::files::{self, FileOptions, RunFiles};
use super::RunError;
use crate::domain::{Invalid, Language, VarName};
use crate::secrets::SecretSelection;
use crate::settings::MIN_MEMORY_MB;
use crate::state::AppState;

/// Most arguments a run may get.
pub const MAX_ARGS: usize = 256;
/// Most extra environment variables a run may get.
pub const MAX_ENV: usize = 64;
/// Largest single argument or environment value.
pub const MAX_ARG_BYTES: usize = 32 * 1024;

/// A run's settings as the caller gave them: every field optional (the server's defaults
/// apply). Each way of running code fills what its own request carries.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// A language name or alias; none means Python.
    pub language: Option<String>,
    /// Standard input.
    pub stdin: Option<String>,
    /// argv after the script.
    pub args: Option<Vec<String>>,
    /// Extra non-secret variables.
    pub env: Option<BTreeMap<String, String>>,
    /// Wall-clock limit.
    pub timeout_ms: Option<u64>,
    /// Memory limit.
    pub memory_mb: Option<u64>,
    /// Packages for this run only.
    pub packages: Option<Vec<String>>,
    /// Egress through the policy proxy.
    pub network: Option<bool>,
    /// The secrets the run needs, by name.
    pub secrets: Option<Vec<String>>,
    /// Input files, the entry program among them, output patterns.
    pub files: FileOptions,
}

/// A run's settings, checked.
#[derive(Debug)]
pub struct RunSettings {
    /// The language.
    pub language: Language,
    /// Standard input.
    pub stdin: String,
    /// argv after the script.
    pub args: Vec<String>,
    /// Extra non-secret variables.
    pub env: Vec<(VarName, String)>,
    /// Wall-clock limit.
    pub timeout_ms: u64,
    /// Memory limit.
    pub memory_mb: u64,
    /// Packages for this run only, on top of the user's persistent list.
    pub packages: Vec<String>,
    /// Egress through the policy proxy (only accepted when the server has it on).
    pub network: bool,
    /// The owner's secrets it receives.
    pub secrets: SecretSelection,
    /// Files in and out.
    pub files: RunFiles,
}

/// What a run executes.
#[derive(Debug)]
pub enum Program {
    /// Source code the caller sent (or the model wrote).
    Source(String),
    /// A stored zero-knowledge payload, decrypted inside the sandbox.
    Zk(ZkRun),
}

/// A checked run: its settings and its program.
#[derive(Debug)]
pub struct RunRequest {
    /// Language, input, limits, packages, network.
    pub settings: RunSettings,
    /// The code, or the payload that holds it.
    pub program: Program,
}

/// What a zero-knowledge run hands to the sandbox's decryption stage.
pub struct ZkRun {
    /// The stored zkcode v1 payload (wire JSON).
    pub payload: String,
    /// The master password (wiped on drop).
    pub password: zeroize::Zeroizing<String>,
    /// The owner, from the server's record (bound into the associated data).
    pub owner: Uuid,
    /// The name asked for (bound into the associated data).
    pub name: String,
    /// Plaintext size, for the audit entry.
    pub code_size: u64,
}

impl std::fmt::Debug for ZkRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkRun")
            .field("owner", &self.owner)
            .field("name", &self.name)
            .field("password", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl RunRequest {
    /// Parses an `/execute` body: its settings and its code.
    /// With `entry`, the program is that input file, and `code` must be empty.
    pub fn parse(state: &AppState, req: ExecuteRequest) -> Result<Self, RunError> {
        let options = RunOptions {
            language: req.language,
            stdin: req.stdin,
            args: req.args,
            env: req.env,
            timeout_ms: req.timeout_ms,
            memory_mb: req.memory_mb,
            packages: req.packages,
            network: req.network,
            secrets: req.secrets,
            files: FileOptions {
                files: req.files,
                entry: req.entry,
                output_files: req.output_files,
            },
        };
        let settings = RunSettings::parse(state, options)?;
        let code = match &settings.files.entry {
            Some(_) if !req.code.is_empty() => {
                return Err(Invalid::field("entry", "give `code` or `entry`, not both").into())
            }
            Some(entry) => files::entry_program(settings.language, entry),
            None => req.code,
        };
        let program = Program::source(state, code)?;
        Ok(Self { settings, program })
    }
}

impl Program {
    /// Source code, checked: at most `--max-code-bytes` (413 past it), no NUL.
    pub fn source(state: &AppState, code: String) -> Result<Self, RunError> {
        let limit = state.settings().max_code_bytes;
        if code.len() as u64 > limit {
            return Err(RunError::CodeTooLarge {
                size: code.len(),
                limit,
            });
        }
        if code.contains('\0') {
            return Err(Invalid::field("code", "must not contain NUL characters").into());
        }
        Ok(Self::Source(code))
    }
}

impl RunSettings {
    /// Checks `options` against the configured limits, filling in the defaults.
    pub fn parse(state: &AppState, options: RunOptions) -> Result<Self, RunError> {
        let settings = state.settings();
        let language = crate::domain::parse_language(options.language.as_deref())?;
        let timeout_ms = options.timeout_ms.unwrap_or(settings.default_timeout_ms);
        within("timeoutMs", timeout_ms, 1, settings.max_timeout_ms)?;
        let memory_mb = options.memory_mb.unwrap_or(settings.default_memory_mb);
        within("memoryMb", memory_mb, MIN_MEMORY_MB, settings.max_memory_mb)?;
        let packages = parse_packages(state, options.packages)?;
        let network = parse_network(state, options.network)?;
        Ok(Self {
            language,
            stdin: options.stdin.unwrap_or_default(),
            args: parse_args(options.args.unwrap_or_default())?,
            env: parse_env(options.env.unwrap_or_default())?,
            timeout_ms,
            memory_mb,
            packages,
            network,
            secrets: SecretSelection::parse(options.secrets)?,
            files: RunFiles::parse(&settings.files, options.files)?,
        })
    }
}

/// `value` within `min..=max`, else `validation_failed` naming `field`.
fn within(field: &str, value: u64, min: u64, max: u64) -> Result<(), Invalid> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Invalid::field(
            field,
            format!("must be between {min} and {max}"),
        ))
    }
}

/// At most [`MAX_ARGS`] arguments of at most [`MAX_ARG_BYTES`] each, without NUL.
fn parse_args(args: Vec<String>) -> Result<Vec<String>, Invalid> {
    if args.len() > MAX_ARGS {
        return Err(Invalid::field(
            "args",
            format!("at most {MAX_ARGS} arguments"),
        ));
    }
    if args
        .iter()
        .any(|a| a.contains('\0') || a.len() > MAX_ARG_BYTES)
    {
        return Err(Invalid::field(
            "args",
            format!("each argument is at most {MAX_ARG_BYTES} bytes without NUL"),
        ));
    }
    Ok(args)
}

/// At most [`MAX_ENV`] variables with valid, unreserved names and values of at most
/// [`MAX_ARG_BYTES`] without NUL.
pub(crate) fn parse_env(raw: BTreeMap<String, String>) -> Result<Vec<(VarName, String)>, Invalid> {
    if raw.len() > MAX_ENV {
        return Err(Invalid::field(
            "env",
            format!("at most {MAX_ENV} variables"),
        ));
    }
    raw.into_iter()
        .map(|(name, value)| {
            let name = VarName::parse(&name, "env")?;
            if value.contains('\0') || value.len() > MAX_ARG_BYTES {
                return Err(Invalid::field(
                    "env",
                    format!("values are at most {MAX_ARG_BYTES} bytes without NUL"),
                ));
            }
            Ok((name, value))
        })
        .collect()
}

/// A run's or a session's extra packages, at most `--max-packages`.
pub(crate) fn parse_packages(
    state: &AppState,
    packages: Option<Vec<String>>,
) -> Result<Vec<String>, Invalid> {
    let packages = packages.unwrap_or_default();
    let max_packages = state.settings().packages.max_packages;
    if packages.len() > max_packages {
        return Err(Invalid::code(
            "too_many_packages",
            format!("a run takes at most {max_packages} packages"),
        ));
    }
    Ok(packages)
}

/// Whether a run or a session asked for the network (refused if the server has no egress).
pub(crate) fn parse_network(state: &AppState, network: Option<bool>) -> Result<bool, Invalid> {
    let network = network == Some(true);
    if network && state.egress().is_none() {
        return Err(Invalid::code(
            "network_disabled",
            "this server does not allow network access from runs",
        ));
    }
    Ok(network)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_outside_its_bounds_names_its_field_and_the_bounds() {
        assert!(within("timeoutMs", 1, 1, 10).is_ok());
        assert!(within("timeoutMs", 10, 1, 10).is_ok());
        let err = within("memoryMb", 11, 32, 512).unwrap_err();
        assert_eq!(err.code, "validation_failed");
        assert_eq!(err.message, "memoryMb: must be between 32 and 512");
    }

    #[test]
    fn arguments_are_bounded_in_number_and_size_and_never_hold_nul() {
        assert!(parse_args(vec!["a".into(); MAX_ARGS]).is_ok());
        assert!(parse_args(vec!["a".into(); MAX_ARGS + 1]).is_err());
        assert!(parse_args(vec!["a\0b".into()]).is_err());
        assert!(parse_args(vec!["a".repeat(MAX_ARG_BYTES + 1)]).is_err());
    }

    #[test]
    fn environment_variables_need_valid_unreserved_names_and_bounded_values() {
        let one = |name: &str, value: &str| BTreeMap::from([(name.into(), value.into())]);
        let parsed = parse_env(one("GREETING", "hi")).unwrap();
        assert_eq!(parsed[0].0.as_str(), "GREETING");
        assert_eq!(
            parse_env(one("PATH", "/x")).unwrap_err().code,
            "reserved_name"
        );
        assert_eq!(
            parse_env(one("lower", "x")).unwrap_err().code,
            "invalid_name"
        );
        assert!(parse_env(one("A", "x\0")).is_err());
        let many = (0..=MAX_ENV).map(|i| (format!("V{i}"), String::new()));
        assert!(parse_env(many.collect()).is_err());
    }
}
