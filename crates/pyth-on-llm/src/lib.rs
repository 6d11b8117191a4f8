#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod anthropic;
pub mod config;
pub mod error;
pub mod extract;
mod http;
mod openai;
pub mod prompt;
pub mod provider;
mod select;

pub use anthropic::AnthropicProvider;
pub use config::{
    LlmConfig, DEFAULT_ANTHROPIC_BASE_URL, DEFAULT_ANTHROPIC_MODEL, DEFAULT_OPENAI_MODEL,
};
pub use error::LlmError;
pub use extract::{code_sha256, extract_code, Extracted};
pub use openai::OpenAiProvider;
pub use prompt::build_prompt;
pub use provider::{Completion, CompletionRequest, Provider};
pub use select::{provider_from_config, try_provider_from_config};
