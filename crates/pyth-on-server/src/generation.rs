//! Generating a program: the configured model provider writes it from a prompt (told the
//! names of the caller's secrets and the packages the run will have, never a value), the
//! generation goes on the audit log, and, when asked, the program runs through the execution
//! service like any other.

use pyth_on_llm::{Completion, LlmError, Provider};
use pyth_on_store::StoreError;
use pyth_on_types::ExecuteResponse;
use serde_json::json;

use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::domain::Invalid;
use crate::execution::{self, Program, RunError, RunRequest, RunSettings};
use crate::state::AppState;

/// Why nothing was generated, or the generated program did not run.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The prompt is empty.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The prompt is over `--max-prompt-bytes`.
    #[error("the prompt is larger than {0} bytes")]
    PromptTooLarge(u64),
    /// No model provider is configured on this server.
    #[error("no model provider is configured on this server")]
    NotConfigured,
    /// The caller's generate limit is spent.
    #[error("the generate limit is spent")]
    RateLimited {
        /// Milliseconds until a generation is allowed again.
        retry_after_ms: i64,
    },
    /// The provider failed or answered without usable code (no provider detail, no key).
    #[error("{0}")]
    Upstream(String),
    /// The generated program's run.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A prompt: not empty once trimmed, at most `--max-prompt-bytes`.
#[derive(Debug)]
pub struct Prompt(String);

impl Prompt {
    /// Checks `raw` against the configured limit.
    pub fn parse(state: &AppState, raw: &str) -> Result<Self, GenerateError> {
        let limit = state.settings().max_prompt_bytes;
        if raw.len() as u64 > limit {
            return Err(GenerateError::PromptTooLarge(limit));
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Invalid::field("prompt", "must not be empty").into());
        }
        Ok(Self(trimmed.to_owned()))
    }
}

/// What was generated, and its run when one was asked for.
#[derive(Debug)]
pub struct Generated {
    /// The program.
    pub code: String,
    /// The model's explanation (empty when it gave none).
    pub explanation: String,
    /// The model that wrote it.
    pub model: String,
    /// Its run.
    pub execution: Option<ExecuteResponse>,
}

/// Generates a program for `user` from `prompt` and, if `execute`, runs it with `settings`
/// (checked before any model call is spent).
pub async fn generate(
    state: &AppState,
    user: &Caller,
    prompt: Prompt,
    settings: RunSettings,
    execute: bool,
) -> Result<Generated, GenerateError> {
    let provider = state.llm().ok_or(GenerateError::NotConfigured)?;
    let key = format!("generate:{}", user.user_id);
    let per_minute = state.settings().generate_rate_limit_per_minute;
    let decision = crate::clock::take(state.store(), &key, per_minute).await?;
    if !decision.allowed {
        return Err(GenerateError::RateLimited {
            retry_after_ms: decision.retry_after_ms,
        });
    }
    let completion = complete(state, user, provider, &prompt, &settings).await?;
    let language = settings.language.as_str();
    let extracted = pyth_on_llm::extract_code(&completion.text, language);
    let program = generated_program(state, &extracted.code)?;
    let details = json!({
        "provider": provider.name(),
        "model": completion.model,
        "inputTokens": completion.input_tokens,
        "outputTokens": completion.output_tokens,
        "promptBytes": prompt.0.len(),
        "codeSha256": audit::code_digest(extracted.code.as_bytes()),
        "codeSize": extracted.code.len(),
        "language": language,
        "execute": execute,
    });
    let event = audit::by(user, Action::Generate, None, Outcome::Success, details);
    state.store().append_audit(&event).await?;
    let execution = if execute {
        let request = RunRequest { settings, program };
        Some(execution::run(state, user, request).await?)
    } else {
        None
    };
    Ok(Generated {
        code: extracted.code,
        explanation: extracted.explanation,
        model: completion.model,
        execution,
    })
}

/// Asks the provider; a failure goes on the audit log and is answered as an upstream error.
async fn complete(
    state: &AppState,
    user: &Caller,
    provider: &dyn Provider,
    prompt: &Prompt,
    settings: &RunSettings,
) -> Result<Completion, GenerateError> {
    let language = settings.language.as_str();
    let secret_names: Vec<String> = state
        .store()
        .list_secrets(user.user_id)
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
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
    let request = pyth_on_llm::build_prompt(language, &prompt.0, &secret_names, &packages);
    match provider.complete(&request).await {
        Ok(completion) => Ok(completion),
        Err(err) => {
            tracing::warn!(provider = provider.name(), error = %err, "generate: provider failed");
            let reason = upstream(&err);
            let details = json!({
                "provider": provider.name(), "model": provider.model(),
                "promptBytes": prompt.0.len(), "reason": reason,
            });
            let event = audit::by(user, Action::Generate, None, Outcome::Failure, details);
            state.store().append_audit(&event).await?;
            Err(GenerateError::Upstream(reason))
        }
    }
}

/// The generated code as a program: present, within `--max-code-bytes` and without NUL
/// (the checks of any program; a failure is the model's, so it is answered as upstream).
fn generated_program(state: &AppState, code: &str) -> Result<Program, GenerateError> {
    if code.trim().is_empty() {
        return Err(GenerateError::Upstream(
            "the model answered without any code".into(),
        ));
    }
    Program::source(state, code.to_owned()).map_err(|refused| {
        GenerateError::Upstream(format!("the generated code was refused: {refused}"))
    })
}

/// What the client hears of a provider failure: only its kind (never the provider's body or
/// our key).
fn upstream(err: &LlmError) -> String {
    let what = match err {
        LlmError::Timeout => "timed out".to_string(),
        LlmError::Status { status } => format!("answered HTTP {status}"),
        LlmError::Malformed(_) => "sent an answer that could not be read".to_string(),
        LlmError::Empty => "sent an empty answer".to_string(),
        LlmError::Transport(_) => "could not be reached".to_string(),
    };
    format!("the model provider {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_failure_is_told_by_its_kind_only() {
        let said = upstream(&LlmError::Status { status: 401 });
        assert_eq!(said, "the model provider answered HTTP 401");
        assert_eq!(upstream(&LlmError::Timeout), "the model provider timed out");
    }
}
