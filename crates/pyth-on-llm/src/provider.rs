//! The [`Provider`] trait and the request and answer types every provider shares.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::error::LlmError;

/// A language model that turns a system prompt and a user message into text.
#[async_trait]
pub trait Provider: Send + Sync + Debug {
    /// A short stable name for logs and audit rows: `"anthropic"` or `"openai"`.
    fn name(&self) -> &'static str;
    /// The model requests are sent for.
    fn model(&self) -> &str;
    /// Sends one completion request, retrying transient failures.
    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError>;
}

/// What the model is asked. Built by [`crate::build_prompt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionRequest {
    /// Instructions: the language, the secrets' names, the packages, the output format.
    pub system: String,
    /// The user's own prompt.
    pub user: String,
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The answer's text (never empty: an empty answer is [`LlmError::Empty`]).
    pub text: String,
    /// The model that answered, as the provider reports it (else the requested one).
    pub model: String,
    /// Prompt tokens, when the provider reports them.
    pub input_tokens: Option<u64>,
    /// Answer tokens, when the provider reports them.
    pub output_tokens: Option<u64>,
}
