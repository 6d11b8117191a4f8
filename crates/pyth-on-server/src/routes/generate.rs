//! `POST /api/v1/generate`: a model writes a program, which then runs like any `/execute`.

use axum::extract::State;
use pyth_on_llm::LlmError;
use pyth_on_types::{GenerateRequest, GenerateResponse};
use serde_json::json;

use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::error::ApiError;
use crate::execution::{self, Program, RunOptions, RunRequest, RunSettings};
use crate::http::json::AppJson;
use crate::http::rate_limit;
use crate::state::AppState;

fn upstream(err: &LlmError) -> ApiError {
    // The provider's body and our key never reach the client: only the kind of failure.
    let what = match err {
        LlmError::Timeout => "timed out".to_string(),
        LlmError::Status { status } => format!("answered HTTP {status}"),
        LlmError::Malformed(_) => "sent an answer that could not be read".to_string(),
        LlmError::Empty => "sent an empty answer".to_string(),
        LlmError::Transport(_) => "could not be reached".to_string(),
    };
    ApiError::Upstream(format!("the model provider {what}"))
}

/// Generate a program from a prompt and, unless `execute` is false, run it.
#[utoipa::path(post, path = "/api/v1/generate", tag = "Generate", request_body = GenerateRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = GenerateResponse),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed (details names the field), unsupported_language, network_disabled, too_many_packages, invalid_package, invalid_name and reserved_name (an env name), packages_unavailable (packages asked for on a server without them)"),
        (status = 413, body = pyth_on_types::ErrorBody, description = "payload_too_large: the prompt is over `--max-prompt-bytes`"),
        (status = 422, body = pyth_on_types::ErrorBody, description = "package_install_failed"),
        (status = 429, body = pyth_on_types::ErrorBody, description = "rate_limited (also the generate limit, `--generate-rate-limit-per-minute`), too_many_runs, too_many_builds"),
        (status = 502, body = pyth_on_types::ErrorBody, description = "upstream_error"),
        (status = 503, body = pyth_on_types::ErrorBody, description = "generate_not_configured (no model provider on this server), sandbox_unavailable, package_builds_busy")))]
pub async fn generate(
    State(state): State<AppState>,
    user: Caller,
    AppJson(body): AppJson<GenerateRequest>,
) -> Result<AppJson<GenerateResponse>, ApiError> {
    let prompt = body.prompt.trim();
    if prompt.is_empty() {
        return Err(ApiError::invalid_field("prompt", "must not be empty"));
    }
    if body.prompt.len() as u64 > state.settings().max_prompt_bytes {
        return Err(ApiError::TooLarge(format!(
            "the prompt is larger than {} bytes",
            state.settings().max_prompt_bytes
        )));
    }
    // Validate the run's parameters before spending a model call on them.
    let settings = RunSettings::parse(
        &state,
        RunOptions {
            language: body.language.clone(),
            timeout_ms: body.timeout_ms,
            memory_mb: body.memory_mb,
            packages: body.packages.clone(),
            network: body.network,
            ..RunOptions::default()
        },
    )?;
    let provider = state.llm().ok_or_else(|| ApiError::Unavailable {
        code: "generate_not_configured",
        message: "no model provider is configured on this server".into(),
        retry_after_secs: None,
    })?;
    let decision = rate_limit::take(
        state.store(),
        &format!("generate:{}", user.user_id),
        state.settings().generate_rate_limit_per_minute,
    )
    .await?;
    if !decision.allowed {
        return Err(rate_limit::refused(&decision));
    }

    let secret_names: Vec<String> = state
        .store()
        .list_secrets(user.user_id)
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    let language = settings.language.as_str();
    // The model is told which packages the run will have: the persistent ones and this
    // request's own.
    let mut packages: Vec<String> = state
        .store()
        .list_packages(user.user_id)
        .await?
        .into_iter()
        .filter(|p| p.language == language)
        .map(|p| p.spec)
        .collect();
    packages.extend(settings.packages.iter().cloned());
    let request = pyth_on_llm::build_prompt(language, prompt, &secret_names, &packages);
    let completion = match provider.complete(&request).await {
        Ok(c) => c,
        Err(err) => {
            tracing::warn!(provider = provider.name(), error = %err, "generate: provider failed");
            let event = audit::by(
                &user,
                Action::Generate,
                None,
                Outcome::Failure,
                json!({
                    "provider": provider.name(), "model": provider.model(), "promptBytes": body.prompt.len(),
                    "reason": upstream(&err).to_string(),
                }),
            );
            state.store().append_audit(&event).await?;
            return Err(upstream(&err));
        }
    };
    let extracted = pyth_on_llm::extract_code(&completion.text, language);
    if extracted.code.trim().is_empty() {
        return Err(ApiError::Upstream(
            "the model answered without any code".into(),
        ));
    }
    if extracted.code.len() as u64 > state.settings().max_code_bytes {
        return Err(ApiError::Upstream(format!(
            "the generated code is larger than the {} byte code limit",
            state.settings().max_code_bytes
        )));
    }
    let execute = body.execute.unwrap_or(true);
    let event = audit::by(
        &user,
        Action::Generate,
        None,
        Outcome::Success,
        json!({
            "provider": provider.name(),
            "model": completion.model,
            "inputTokens": completion.input_tokens,
            "outputTokens": completion.output_tokens,
            "promptBytes": body.prompt.len(),
            "codeSha256": audit::code_digest(extracted.code.as_bytes()),
            "codeSize": extracted.code.len(),
            "language": language,
            "execute": execute,
        }),
    );
    state.store().append_audit(&event).await?;

    let execution = if execute {
        let program = Program::Source(extracted.code.clone());
        let request = RunRequest { settings, program };
        Some(execution::run(&state, &user, request).await?)
    } else {
        None
    };
    Ok(AppJson(GenerateResponse {
        code: extracted.code,
        language: language.to_string(),
        model: completion.model,
        explanation: extracted.explanation,
        executed: execution.is_some(),
        execution,
    }))
}
