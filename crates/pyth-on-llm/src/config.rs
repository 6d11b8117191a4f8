//! [`LlmConfig`], the generate settings (the provider is chosen in `select`).

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// `PYTH_ON_ANTHROPIC_BASE_URL` when unset.
pub const DEFAULT_ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
/// The Anthropic model used when `PYTH_ON_LLM_MODEL` is unset.
pub const DEFAULT_ANTHROPIC_MODEL: &str = "claude-sonnet-4-5";
/// The OpenAI-compatible model used when `PYTH_ON_LLM_MODEL` is unset.
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o-mini";

/// The generate settings. Build it with struct update syntax over [`Default`].
#[derive(Clone)]
pub struct LlmConfig {
    /// `ANTHROPIC_API_KEY`: when set (and not empty) the Anthropic provider is used.
    pub anthropic_api_key: Option<SecretString>,
    /// `PYTH_ON_ANTHROPIC_BASE_URL`; requests go to `{base}/v1/messages`.
    pub anthropic_base_url: String,
    /// `PYTH_ON_OPENAI_BASE_URL`, usually ending in `/v1`; requests go to
    /// `{base}/chat/completions`. Used when no Anthropic key is set.
    pub openai_base_url: Option<String>,
    /// `PYTH_ON_OPENAI_API_KEY`, sent as `Authorization: Bearer`; omitted when unset.
    pub openai_api_key: Option<SecretString>,
    /// `PYTH_ON_LLM_MODEL`: overrides the provider's default model.
    pub model: Option<String>,
    /// Per-attempt timeout, connect to last byte. Default 60 s.
    pub timeout: Duration,
    /// Retries after the first attempt on 429, 5xx and connect failures. Default 2.
    pub max_retries: u32,
    /// `max_tokens` sent with every request. Default 4096.
    pub max_output_tokens: u32,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            anthropic_api_key: None,
            anthropic_base_url: DEFAULT_ANTHROPIC_BASE_URL.to_owned(),
            openai_base_url: None,
            openai_api_key: None,
            model: None,
            timeout: Duration::from_secs(60),
            max_retries: 2,
            max_output_tokens: 4096,
        }
    }
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field(
                "anthropic_api_key",
                &redacted(self.anthropic_api_key.as_ref()),
            )
            .field("anthropic_base_url", &self.anthropic_base_url)
            .field("openai_base_url", &self.openai_base_url)
            .field("openai_api_key", &redacted(self.openai_api_key.as_ref()))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("max_output_tokens", &self.max_output_tokens)
            .finish()
    }
}

fn redacted(key: Option<&SecretString>) -> Option<&'static str> {
    key.map(|_| "[redacted]")
}

/// A key that is set but empty (`ANTHROPIC_API_KEY=`) counts as unset.
pub(crate) fn non_empty(key: Option<&SecretString>) -> Option<&SecretString> {
    key.filter(|k| !k.expose_secret().trim().is_empty())
}

impl LlmConfig {
    /// The configured model, or `default` when unset or blank.
    pub(crate) fn model_or(&self, default: &str) -> String {
        match self.model.as_deref().map(str::trim) {
            Some(model) if !model.is_empty() => model.to_owned(),
            _ => default.to_owned(),
        }
    }
}
