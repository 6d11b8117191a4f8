//! Choosing the provider from an [`LlmConfig`]: Anthropic when its key is set, else an
//! OpenAI-compatible endpoint when its base URL is set, else none.

use std::sync::Arc;

use crate::anthropic::AnthropicProvider;
use crate::config::{non_empty, LlmConfig};
use crate::error::LlmError;
use crate::openai::OpenAiProvider;
use crate::provider::Provider;

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
    use crate::config::{DEFAULT_ANTHROPIC_MODEL, DEFAULT_OPENAI_MODEL};
    use secrecy::SecretString;

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
