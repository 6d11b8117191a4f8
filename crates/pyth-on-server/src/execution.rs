//! One run, from a parsed request to an `ExecuteResponse`: admission, the owner's secrets,
//! the sandbox, redaction and the audit entry. `/execute` uses it now; ZK and generate runs
//! will go through the same path.

use pyth_on_launcher::{Job, LaunchError};
use pyth_on_types::{ExecuteRequest, ExecuteResponse};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Outcome};
use crate::domain::{Language, VarName};
use crate::error::ApiError;
use crate::http::auth::AuthUser;
use crate::secrets;
use crate::settings::MIN_MEMORY_MB;
use crate::state::AppState;

/// Most arguments a run may get.
const MAX_ARGS: usize = 256;
/// Most extra environment variables a run may get.
const MAX_ENV: usize = 64;
/// Largest single argument or environment value.
const MAX_ARG_BYTES: usize = 32 * 1024;

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
}

impl RunRequest {
    /// Parses an `ExecuteRequest` against the configured limits.
    pub fn parse(state: &AppState, req: ExecuteRequest) -> Result<Self, ApiError> {
        let settings = state.settings();
        let language = Language::parse(req.language.as_deref())?;
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
        if req.packages.as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(ApiError::bad_request_code(
                "packages_unavailable",
                "per-run packages are not available on this server yet",
            ));
        }
        if req.network == Some(true) {
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
        })
    }
}

/// Runs `request` for `user` and records it in the audit log.
pub async fn run(
    state: &AppState,
    user: &AuthUser,
    request: RunRequest,
) -> Result<ExecuteResponse, ApiError> {
    let execution_id = Uuid::now_v7();
    let permit = state
        .runs()
        .admit(user.user_id)
        .await
        .map_err(|_| ApiError::sandbox_busy(1))?;
    let secrets = secrets::open_for_run(state, user.user_id).await?;
    let mut env: Vec<(String, String)> = request
        .env
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), value.clone()))
        .collect();
    // Secrets win over same-named request variables.
    env.retain(|(n, _)| !secrets.iter().any(|(name, _)| name == n));
    env.extend(
        secrets
            .iter()
            .map(|(name, value)| (name.clone(), value.to_string())),
    );
    let code_sha256 = audit::code_digest(request.code.as_bytes());
    let code_size = request.code.len();
    let job = Job {
        language: match request.language {
            Language::Python => pyth_on_sandbox::Language::Python,
            Language::Javascript => pyth_on_sandbox::Language::Javascript,
        },
        code: request.code,
        stdin: request.stdin,
        args: request.args,
        env,
        timeout_ms: Some(request.timeout_ms),
        memory_mb: Some(request.memory_mb),
        max_output_bytes: Some(state.settings().max_output_bytes),
    };
    let result = state.launcher().run(job).await;
    drop(permit);
    let result = match result {
        Ok(output) => output.result,
        Err(LaunchError::RuntimeMissing(_)) => {
            return Err(ApiError::bad_request_code(
                "unsupported_language",
                format!(
                    "{} is not installed on this server",
                    request.language.as_str()
                ),
            ))
        }
        Err(err) => {
            let event = audit::by(
                user,
                "execute",
                Some(execution_id.to_string()),
                Outcome::Failure,
                json!({
                    "language": request.language.as_str(), "codeSha256": code_sha256, "codeSize": code_size,
                    "reason": "sandbox_unavailable",
                }),
            );
            state.store().append_audit(&event).await?;
            tracing::error!(execution.id = %execution_id, error = %err, "sandbox failed");
            return Err(ApiError::Unavailable {
                code: "sandbox_unavailable",
                message: "the sandbox failed to run this program; retry shortly".into(),
                retry_after_secs: Some(1),
            });
        }
    };
    let duration_ms = result.duration_ms.max(0.0).round() as u64;
    let response = ExecuteResponse {
        output: secrets::redact(&result.stdout, &secrets),
        error: secrets::redact(&result.stderr, &secrets),
        exit_code: result.exit_code,
        language: request.language.as_str().to_string(),
        duration_ms,
        timed_out: result.timed_out,
        memory_exceeded: result.memory_exceeded,
        output_truncated: result.output_truncated,
        execution_id,
        zero_knowledge: None,
    };
    let event = audit::by(
        user,
        "execute",
        Some(execution_id.to_string()),
        Outcome::Success,
        json!({
            "language": response.language,
            "codeSha256": code_sha256,
            "codeSize": code_size,
            "exitCode": response.exit_code,
            "durationMs": duration_ms,
            "timedOut": response.timed_out,
            "memoryExceeded": response.memory_exceeded,
            "outputTruncated": response.output_truncated,
            "secretsInjected": secrets.len(),
        }),
    );
    state.store().append_audit(&event).await?;
    Ok(response)
}
