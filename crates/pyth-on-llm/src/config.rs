//! [`LlmConfig`], the generate settings, and [`provider_from_config`], which picks a provider.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::anthropic::AnthropicProvider;
use crate::error::LlmError;
use crate::openai::OpenAiProvider;
use crate::provider::Provider;

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

/// Picks the provider: Anthropic when its key is set, else OpenAI-compatible when its base URL
/// is set, else none (generate answers 503 `generate_not_configured`).
///
/// # Errors
/// When the chosen provider cannot be built: a base URL that is not `http(s)`, a key that is
/// not a valid header value, or an HTTP client that cannot start.
pub fn try_provider_from_config(cfg: &LlmConfig) -> Result<Option<Arc<dyn Provider>>, LlmError> {
    if let Some(key) = non_empty(cfg.anthropic_api_key.as_ref()) {
        return Ok(Some(Arc::new(AnthropicProvider::new(key, cfg)?)));
    }
    match cfg.openai_base_url.as_deref().map(str::trim) {
        Some(base) if !base.is_empty() => {
            let key = non_empty(cfg.openai_api_key.as_ref());
            Ok(Some(Arc::new(OpenAiProvider::new(base, key, cfg)?)))
        }
        _ => Ok(None),
    }
}

/// [`try_provider_from_config`], logging a provider that cannot be built and treating it as
/// unconfigured. Prefer the `try_` form at startup so a bad setting fails fast.
pub fn provider_from_config(cfg: &LlmConfig) -> Option<Arc<dyn Provider>> {
    match try_provider_from_config(cfg) {
        Ok(provider) => provider,
        Err(err) => {
            tracing::error!(error = %err, "language model provider misconfigured; generate is off");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: &str) -> Option<SecretString> {
        Some(SecretString::from(value.to_owned()))
    }

    #[test]
    fn no_settings_means_no_provider() {
        assert!(provider_from_config(&LlmConfig::default()).is_none());
    }

    #[test]
    fn the_anthropic_key_wins_over_an_openai_base_url() {
        let cfg = LlmConfig {
            anthropic_api_key: key("sk-ant-test"),
            openai_base_url: Some("http://127.0.0.1:1/v1".into()),
            ..LlmConfig::default()
        };
        let provider = provider_from_config(&cfg).expect("a provider");
        assert_eq!(provider.name(), "anthropic");
        assert_eq!(provider.model(), DEFAULT_ANTHROPIC_MODEL);
    }

    #[test]
    fn an_empty_anthropic_key_falls_back_to_openai() {
        let cfg = LlmConfig {
            anthropic_api_key: key("  "),
            openai_base_url: Some("http://127.0.0.1:1/v1".into()),
            model: Some("llama3".into()),
            ..LlmConfig::default()
        };
        let provider = provider_from_config(&cfg).expect("a provider");
        assert_eq!(provider.name(), "openai");
        assert_eq!(provider.model(), "llama3");
    }

    #[test]
    fn the_openai_default_model_applies_when_none_is_set() {
        let cfg = LlmConfig {
            openai_base_url: Some("https://api.openai.com/v1".into()),
            ..LlmConfig::default()
        };
        let provider = provider_from_config(&cfg).expect("a provider");
        assert_eq!(provider.model(), DEFAULT_OPENAI_MODEL);
    }

    #[test]
    fn a_base_url_that_is_not_http_is_refused() {
        let cfg = LlmConfig {
            openai_base_url: Some("ftp://example.invalid/v1".into()),
            ..LlmConfig::default()
        };
        assert!(matches!(
            try_provider_from_config(&cfg),
            Err(LlmError::Transport(_))
        ));
        assert!(provider_from_config(&cfg).is_none());
    }

    #[test]
    fn debug_output_never_shows_the_keys() {
        let cfg = LlmConfig {
            anthropic_api_key: key("sk-ant-very-secret"),
            openai_api_key: key("sk-oai-very-secret"),
            ..LlmConfig::default()
        };
        let provider = provider_from_config(&cfg).expect("a provider");
        for text in [format!("{cfg:?}"), format!("{provider:?}")] {
            assert!(!text.contains("very-secret"), "{text}");
        }
    }
}
