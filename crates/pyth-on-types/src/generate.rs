//! `POST /api/v1/generate`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ExecuteResponse;

/// Ask a model for a program, and (by default) run it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenerateRequest {
    /// What the program should do: not blank, at most the server's `--max-prompt-bytes`
    /// (default 16384; larger is a 413).
    #[schema(pattern = r"\S", max_length = 16384)]
    pub prompt: String,
    /// `python` (default) or `javascript`, with the usual aliases.
    #[serde(default)]
    #[schema(value_type = Option<crate::LanguageName>)]
    pub language: Option<String>,
    /// Run the generated code (default `true`).
    #[serde(default)]
    pub execute: Option<bool>,
    /// Extra packages for this run only, at most `--max-packages` (default 50).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub packages: Option<Vec<String>>,
    /// Wall-clock limit of the run, as in `ExecuteRequest`.
    #[serde(default, deserialize_with = "crate::number::optional_whole")]
    #[schema(minimum = 1, maximum = 60000)]
    pub timeout_ms: Option<u64>,
    /// Memory limit of the run, as in `ExecuteRequest`.
    #[serde(default, deserialize_with = "crate::number::optional_whole")]
    #[schema(minimum = 16, maximum = 2048)]
    pub memory_mb: Option<u64>,
    /// Ask for egress (refused while the server forbids it).
    #[serde(default)]
    pub network: Option<bool>,
    /// The secrets this request needs, by name (at most 100): only these are injected as
    /// environment variables and redacted from the output. Absent: the account's
    /// `secretsDefault` decides (`all`, the default, or `none`). A name the account has no
    /// secret under is a 400 `unknown_secret`.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub secrets: Option<Vec<String>>,
    /// Files written under the working directory before the generated program runs, as in
    /// `ExecuteRequest` (the prompt can refer to them).
    #[serde(default)]
    pub files: Option<Vec<crate::InputFile>>,
    /// Output files to bring back from the run, as in `ExecuteRequest`.
    #[serde(default)]
    pub output_files: Option<Vec<String>>,
}

/// The generated program and, when it ran, the run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenerateResponse {
    /// The program.
    pub code: String,
    /// Its language.
    pub language: String,
    /// The model that wrote it.
    pub model: String,
    /// The model's words around the code.
    pub explanation: String,
    /// Whether it was run.
    pub executed: bool,
    /// The run, when `executed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecuteResponse>,
}
