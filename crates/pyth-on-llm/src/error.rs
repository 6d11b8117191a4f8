//! [`LlmError`]: what can go wrong talking to a provider.
//!
//! Messages are safe to log and to show: they never contain the API key, the prompt or any part
//! of the provider's response body (a JSON parse error only names its kind and position).

/// A failed completion. The server maps every variant to 502 `upstream_error`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LlmError {
    /// An attempt took longer than the configured timeout.
    #[error("the language model provider did not answer in time")]
    Timeout,
    /// The provider answered with a non-success status (after any retries).
    #[error("the language model provider answered with status {status}")]
    Status {
        /// The HTTP status code of the last attempt.
        status: u16,
    },
    /// The answer was not the expected JSON shape, or was too large. The message describes the
    /// problem without quoting the body.
    #[error("the language model provider sent a malformed answer: {0}")]
    Malformed(String),
    /// The answer held no text.
    #[error("the language model provider sent an empty answer")]
    Empty,
    /// The request could not be sent or the answer not received (connection refused, TLS, reset),
    /// or the client could not be set up.
    #[error("could not reach the language model provider: {0}")]
    Transport(String),
}

impl LlmError {
    /// Describes a transport failure from its error chain, without the URL (the URL holds no
    /// key, but the base URL is configuration, not something a caller needs to see).
    pub(crate) fn transport(err: &reqwest::Error) -> Self {
        let mut message = if err.is_connect() {
            "connection failed".to_owned()
        } else if err.is_body() || err.is_decode() {
            "reading the answer failed".to_owned()
        } else {
            "sending the request failed".to_owned()
        };
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Transport(message)
    }

    /// Describes a JSON error by kind and position only: serde_json's own message can quote
    /// pieces of the body.
    pub(crate) fn malformed_json(err: &serde_json::Error) -> Self {
        let kind = match err.classify() {
            serde_json::error::Category::Io => "unreadable JSON",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "unexpected JSON shape",
            serde_json::error::Category::Eof => "truncated JSON",
        };
        Self::Malformed(format!(
            "{kind} at line {} column {}",
            err.line(),
            err.column()
        ))
    }
}
