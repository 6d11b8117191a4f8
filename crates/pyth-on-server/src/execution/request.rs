//! [`RunRequest`]: an `ExecuteRequest` parsed against the configured limits (the domain type
//! every run path uses), and what a zero-knowledge run adds to it ([`ZkRun`]).

use pyth_on_types::ExecuteRequest;
use uuid::Uuid;

use crate::domain::{Language, VarName};
use crate::error::ApiError;
use crate::settings::MIN_MEMORY_MB;
use crate::state::AppState;

/// Most arguments a run may get.
pub const MAX_ARGS: usize = 256;
/// Most extra environment variables a run may get.
pub const MAX_ENV: usize = 64;
/// Largest single argument or environment value.
pub const MAX_ARG_BYTES: usize = 32 * 1024;

/// A validated run request.
#[derive(Debug)]
pub struct RunRequest {
    /// The language.
    pub language: Language,
    /// Source code.
    pub code: String,
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
    /// A zero-knowledge run: the code is this payload, decrypted inside the sandbox.
    pub zk: Option<ZkRun>,
    /// Packages for this run only, on top of the user's persistent list.
    pub packages: Vec<String>,
    /// Egress through the policy proxy (only accepted when the server has it on).
    pub network: bool,
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
    /// Parses an `ExecuteRequest` against the configured limits.
    pub fn parse(state: &AppState, req: ExecuteRequest) -> Result<Self, ApiError> {
        let settings = state.settings();
        let language = crate::domain::parse_language(req.language.as_deref())?;
        if req.code.len() as u64 > settings.max_code_bytes {
            return Err(ApiError::TooLarge(format!(
                "code is {} bytes; the limit is {}",
                req.code.len(),
                settings.max_code_bytes
            )));
        }
        if req.code.contains('\0') {
            return Err(ApiError::invalid_field(
                "code",
                "must not contain NUL characters",
            ));
        }
        let timeout_ms = req.timeout_ms.unwrap_or(settings.default_timeout_ms);
        if !(1..=settings.max_timeout_ms).contains(&timeout_ms) {
            return Err(ApiError::invalid_field(
                "timeoutMs",
                format!("must be between 1 and {}", settings.max_timeout_ms),
            ));
        }
        let memory_mb = req.memory_mb.unwrap_or(settings.default_memory_mb);
        if !(MIN_MEMORY_MB..=settings.max_memory_mb).contains(&memory_mb) {
            return Err(ApiError::invalid_field(
                "memoryMb",
                format!(
                    "must be between {MIN_MEMORY_MB} and {}",
                    settings.max_memory_mb
                ),
            ));
        }
        let args = req.args.unwrap_or_default();
        if args.len() > MAX_ARGS {
            return Err(ApiError::invalid_field(
                "args",
                format!("at most {MAX_ARGS} arguments"),
            ));
        }
        if args
            .iter()
            .any(|a| a.contains('\0') || a.len() > MAX_ARG_BYTES)
        {
            return Err(ApiError::invalid_field(
                "args",
                format!("each argument is at most {MAX_ARG_BYTES} bytes without NUL"),
            ));
        }
        let mut env = Vec::new();
        let raw_env = req.env.unwrap_or_default();
        if raw_env.len() > MAX_ENV {
            return Err(ApiError::invalid_field(
                "env",
                format!("at most {MAX_ENV} variables"),
            ));
        }
        for (name, value) in raw_env {
            let name = VarName::parse(&name, "env")?;
            if value.contains('\0') || value.len() > MAX_ARG_BYTES {
                return Err(ApiError::invalid_field(
                    "env",
                    format!("values are at most {MAX_ARG_BYTES} bytes without NUL"),
                ));
            }
            env.push((name, value));
        }
        let packages = req.packages.unwrap_or_default();
        if packages.len() > settings.packages.max_packages {
            return Err(ApiError::bad_request_code(
                "too_many_packages",
                format!(
                    "a run takes at most {} packages",
                    settings.packages.max_packages
                ),
            ));
        }
        let network = req.network == Some(true);
        if network && state.egress().is_none() {
            return Err(ApiError::bad_request_code(
                "network_disabled",
                "this server does not allow network access from runs",
            ));
        }
        let stdin = req.stdin.unwrap_or_default();
        Ok(Self {
            language,
            code: req.code,
            stdin,
            args,
            env,
            timeout_ms,
            memory_mb,
            zk: None,
            packages,
            network,
        })
    }
}
