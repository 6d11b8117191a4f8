//! OpenAI-compatible chat completions: `POST {base}/chat/completions`.
//!
//! The base URL is used as given, so it carries the version prefix:
//! `https://api.openai.com/v1` → `https://api.openai.com/v1/chat/completions`. This matches
//! OpenAI, Azure-style proxies, vLLM, Ollama (`http://localhost:11434/v1`) and LM Studio.

use std::fmt;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{LlmConfig, DEFAULT_OPENAI_MODEL};
use crate::error::LlmError;
use crate::http::{endpoint, secret_header, Transport};
use crate::provider::{Completion, CompletionRequest, Provider};

/// Completions from an OpenAI-compatible chat-completions endpoint.
pub struct OpenAiProvider {
    url: Url,
    model: String,
    max_tokens: u32,
    has_key: bool,
    headers: HeaderMap,
    transport: Transport,
}

impl fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("url", &self.url.as_str())
            .field("model", &self.model)
            .field("max_tokens", &self.max_tokens)
            .field("api_key", &self.has_key.then_some("[redacted]"))
            .finish_non_exhaustive()
    }
}

impl OpenAiProvider {
    /// A provider for `{base_url}/chat/completions`, with `cfg.model` or
    /// [`DEFAULT_OPENAI_MODEL`]. Without a key no `Authorization` header is sent.
    ///
    /// # Errors
    /// [`LlmError::Transport`] for a base URL that is not `http(s)`, a key that is not a valid
    /// header value, or an HTTP client that cannot start.
    pub fn new(
        base_url: &str,
        api_key: Option<&SecretString>,
        cfg: &LlmConfig,
    ) -> Result<Self, LlmError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = api_key {
            let bearer = format!("Bearer {}", key.expose_secret());
            headers.insert(AUTHORIZATION, secret_header(&bearer)?);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(Self {
            url: endpoint(base_url, "/chat/completions")?,
            model: cfg.model_or(DEFAULT_OPENAI_MODEL),
            max_tokens: cfg.max_output_tokens,
            has_key: api_key.is_some(),
            headers,
            transport: Transport::new(cfg.timeout, cfg.max_retries)?,
        })
    }
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    messages: [ChatMessage<'a>; 2],
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
    model: Option<String>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<AnswerMessage>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct AnswerMessage {
    content: Option<Value>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

/// The text of a message's `content`: a string, or (some servers) an array of text parts.
fn content_text(content: Option<Value>) -> Result<String, LlmError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text),
        Some(Value::Array(parts)) => Ok(parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect()),
        Some(_) => Err(LlmError::Malformed(
            "unexpected JSON shape: message content is neither text nor parts".to_owned(),
        )),
    }
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        let body = serde_json::to_vec(&ChatRequest {
            model: &self.model,
            max_tokens: self.max_tokens,
            messages: [
                ChatMessage {
                    role: "system",
                    content: &req.system,
                },
                ChatMessage {
                    role: "user",
                    content: &req.user,
                },
            ],
        })
        .map_err(|err| LlmError::Transport(format!("encoding the request failed: {err}")))?;
        let answer = self
            .transport
            .post_json(self.name(), &self.url, &self.headers, body)
            .await?;
        let parsed: ChatResponse =
            serde_json::from_slice(&answer).map_err(|err| LlmError::malformed_json(&err))?;
        let Some(choice) = parsed.choices.into_iter().next() else {
            return Err(LlmError::Empty);
        };
        if choice.finish_reason.as_deref() == Some("length") {
            tracing::warn!(llm.model = %self.model, "answer cut off at max_tokens");
        }
        let text = content_text(choice.message.and_then(|m| m.content))?;
        if text.trim().is_empty() {
            return Err(LlmError::Empty);
        }
        let usage = parsed.usage;
        Ok(Completion {
            text,
            model: parsed.model.unwrap_or_else(|| self.model.clone()),
            input_tokens: usage.as_ref().and_then(|u| u.prompt_tokens),
            output_tokens: usage.as_ref().and_then(|u| u.completion_tokens),
        })
    }
}
