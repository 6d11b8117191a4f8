//! `POST /api/v1/execute` request and response.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A language name the API accepts: the canonical names and their aliases. The server also
/// accepts them in any case and with surrounding spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LanguageName {
    /// CPython 3.
    Python,
    /// Alias of `python`.
    Py,
    /// Alias of `python`.
    Python3,
    /// Node.js.
    Javascript,
    /// Alias of `javascript`.
    Js,
    /// Alias of `javascript`.
    Node,
    /// Alias of `javascript`.
    Nodejs,
}

/// A program to run once in a fresh sandbox.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecuteRequest {
    /// UTF-8 source code without NUL characters, at most the server's code limit in bytes
    /// (`--max-code-bytes`, default 524288; larger is a 413). Empty runs nothing.
    #[schema(
        example = "print('hello')",
        pattern = r"^[^\x00]*$",
        max_length = 524288
    )]
    pub code: String,
    /// `python` (`py`, `python3`) or `javascript` (`js`, `node`, `nodejs`). Default `python`.
    #[serde(default)]
    #[schema(value_type = Option<LanguageName>)]
    pub language: Option<String>,
    /// Standard input.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Arguments after the script: at most 256, each at most 32768 bytes without NUL.
    #[serde(default)]
    #[schema(max_items = 256)]
    pub args: Option<Vec<String>>,
    /// Wall-clock limit in milliseconds, 1 to the server's maximum (`--max-timeout-ms`,
    /// default 60000). Default: `--default-timeout-ms` (10000).
    #[serde(default, deserialize_with = "crate::number::optional_whole")]
    #[schema(minimum = 1, maximum = 60000)]
    pub timeout_ms: Option<u64>,
    /// Memory limit in MiB, 16 to the server's maximum (`--max-memory-mb`, default 2048).
    /// Default: `--default-memory-mb` (256).
    #[serde(default, deserialize_with = "crate::number::optional_whole")]
    #[schema(minimum = 16, maximum = 2048)]
    pub memory_mb: Option<u64>,
    /// Extra packages for this run only (specs as in `PUT /api/v1/packages`), at most the
    /// server's `--max-packages` (default 50).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub packages: Option<Vec<String>>,
    /// Extra non-secret environment variables: at most 64; names follow the rules of secret
    /// names, values are at most 32768 bytes without NUL.
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
    /// Ask for egress through the server's policy proxy.
    #[serde(default)]
    pub network: Option<bool>,
}

/// What happened in a run. A program that fails is still a 200: these fields say how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteResponse {
    /// Standard output (lossy UTF-8), secret values replaced by `***`.
    pub output: String,
    /// Standard error (lossy UTF-8), secret values replaced by `***`.
    pub error: String,
    /// The exit status; 128 + signal when the process was killed.
    pub exit_code: i32,
    /// The canonical language name.
    pub language: String,
    /// Wall-clock time of the run in milliseconds.
    pub duration_ms: u64,
    /// The run hit its wall-clock limit.
    pub timed_out: bool,
    /// The run hit its memory limit.
    pub memory_exceeded: bool,
    /// A stream passed the output cap and the run was stopped.
    pub output_truncated: bool,
    /// The run's id (also in its audit entry).
    pub execution_id: Uuid,
    /// Present and `true` on `/zk/execute` answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_knowledge: Option<bool>,
    /// What the run did through the egress proxy; present when it asked for `network`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<EgressUsage>,
}

/// A run's use of the egress proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EgressUsage {
    /// Requests the proxy received (CONNECT tunnels and forwarded HTTP requests), allowed or
    /// not.
    pub requests: u64,
    /// Bytes relayed to and from outside servers, both directions.
    pub bytes: u64,
    /// Requests refused (403) by the policy or a limit.
    pub denied: u64,
}
