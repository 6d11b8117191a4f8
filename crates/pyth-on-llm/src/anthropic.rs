//! The Anthropic Messages API: `POST {base}/v1/messages`.

use std::fmt;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::{LlmConfig, DEFAULT_ANTHROPIC_BASE_URL, DEFAULT_ANTHROPIC_MODEL};
use crate::error::LlmError;
use crate::http::{endpoint, secret_header, Transport};
use crate::provider::{Completion, CompletionRequest, Provider};

/// The API version this client speaks.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Completions from Anthropic's Messages API.
pub struct AnthropicProvider {
    url: Url,
    model: String,
    max_tokens: u32,
    headers: HeaderMap,
    transport: Transport,
}

impl fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicProvider")
            .field("url", &self.url.as_str())
            .field("model", &self.model)
            .field("max_tokens", &self.max_tokens)
            .field("api_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl AnthropicProvider {
    /// A provider for `{cfg.anthropic_base_url}/v1/messages` (the default base when that is
    /// empty), with `cfg.model` or
    /// [`DEFAULT_ANTHROPIC_MODEL`].
    ///
    /// # Errors
    /// [`LlmError::Transport`] for a base URL that is not `http(s)`, a key that is not a valid
    /// header value, or an HTTP client that cannot start.
    pub fn new(api_key: &SecretString, cfg: &LlmConfig) -> Result<Self, LlmError> {
        // An empty `PYTH_ON_ANTHROPIC_BASE_URL=` means the default, not a broken provider.
        let base_url = match cfg.anthropic_base_url.trim() {
            "" => DEFAULT_ANTHROPIC_BASE_URL,
            base => base,
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-api-key"),
            secret_header(api_key.expose_secret())?,
        );
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(Self {
            url: endpoint(base_url, "/v1/messages")?,
            model: cfg.model_or(DEFAULT_ANTHROPIC_MODEL),
            max_tokens: cfg.max_output_tokens,
            headers,
            transport: Transport::new(cfg.timeout, cfg.max_retries)?,
        })
    }
}

#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    system: &'a str,
    messages: [Message<'a>; 1],
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Deserialize)]
struct MessagesResponse {
    content: Vec<ContentBlock>,
    model: Option<String>,
    usage: Option<Usage>,
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

#[async_trait]
impl Provider for AnthropicProvider {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        let body = serde_json::to_vec(&MessagesRequest {
            model: &self.model,
            max_tokens: self.max_tokens,
            system: &req.system,
            messages: [Message {
                role: "user",
                content: &req.user,
            }],
        })
        .map_err(|err| LlmError::Transport(format!("encoding the request failed: {err}")))?;
        let answer = self
            .transport
            .post_json(self.name(), &self.url, &self.headers, body)
            .await?;
        let parsed: MessagesResponse =
            serde_json::from_slice(&answer).map_err(|err| LlmError::malformed_json(&err))?;
        if parsed.stop_reason.as_deref() == Some("max_tokens") {
            tracing::warn!(llm.model = %self.model, "answer cut off at max_tokens");
        }
        let text: String = parsed
            .content
            .into_iter()
            .filter(|block| block.kind == "text")
            .filter_map(|block| block.text)
            .collect();
        if text.trim().is_empty() {
            return Err(LlmError::Empty);
        }
        let usage = parsed.usage;
        Ok(Completion {
            text,
            model: parsed.model.unwrap_or_else(|| self.model.clone()),
            input_tokens: usage.as_ref().and_then(|u| u.input_tokens),
            output_tokens: usage.as_ref().and_then(|u| u.output_tokens),
        })
    }
}
