//! `POST /api/v1/generate`: a model writes a program, which then runs like any `/execute`.

use axum::extract::State;
use pyth_on_types::{GenerateRequest, GenerateResponse};

use crate::caller::Caller;
use crate::error::ApiError;
use crate::execution::files::FileOptions;
use crate::execution::{RunOptions, RunSettings};
use crate::generation::{self, Prompt};
use crate::http::json::AppJson;
use crate::state::AppState;

/// Generate a program from a prompt and, unless `execute` is false, run it.
#[utoipa::path(post, path = "/api/v1/generate", tag = "Generate", request_body = GenerateRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = GenerateResponse),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed (details names the field), unsupported_language, network_disabled, too_many_packages, invalid_package, invalid_name and reserved_name (an env name), packages_unavailable (packages asked for on a server without them)"),
        (status = 413, body = pyth_on_types::ErrorBody, description = "payload_too_large: the prompt is over `--max-prompt-bytes`"),
        (status = 422, body = pyth_on_types::ErrorBody, description = "package_install_failed"),
        (status = 429, body = pyth_on_types::ErrorBody, description = "rate_limited (also the generate limit, `--generate-rate-limit-per-minute`), too_many_runs, too_many_builds; quota_exceeded: your runs or CPU seconds of the day (UTC) are used up (`details`: quota, limit, used, resetAt; Retry-After until 00:00 UTC)"),
        (status = 502, body = pyth_on_types::ErrorBody, description = "upstream_error"),
        (status = 503, body = pyth_on_types::ErrorBody, description = "generate_not_configured (no model provider on this server), sandbox_unavailable, package_builds_busy")))]
pub async fn generate(
    State(state): State<AppState>,
    user: Caller,
    AppJson(body): AppJson<GenerateRequest>,
) -> Result<AppJson<GenerateResponse>, ApiError> {
    let prompt = Prompt::parse(&state, &body.prompt)?;
    // The run's settings are checked before a model call is spent on them.
    let settings = RunSettings::parse(
        &state,
        RunOptions {
            language: body.language,
            timeout_ms: body.timeout_ms,
            memory_mb: body.memory_mb,
            packages: body.packages,
            network: body.network,
            secrets: body.secrets,
            files: FileOptions {
                files: body.files,
                entry: None,
                output_files: body.output_files,
            },
            ..RunOptions::default()
        },
    )?;
    let language = settings.language.as_str();
    let execute = body.execute.unwrap_or(true);
    let generated = generation::generate(&state, &user, prompt, settings, execute).await?;
    Ok(AppJson(GenerateResponse {
        code: generated.code,
        language: language.to_string(),
        model: generated.model,
        explanation: generated.explanation,
        executed: generated.execution.is_some(),
        execution: generated.execution,
    }))
}
