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
    /// (`--max-code-bytes`, default 524288; larger is a 413). Empty runs nothing. Leave it out
    /// (or empty) when `entry` names the program among `files`.
    #[serde(default)]
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
    /// The secrets this request needs, by name (at most 100): only these are injected as
    /// environment variables and redacted from the output. Absent: the account's
    /// `secretsDefault` decides (`all`, the default, or `none`). A name the account has no
    /// secret under is a 400 `unknown_secret`.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub secrets: Option<Vec<String>>,
    /// Files written under the working directory (`/work`) before the program starts. At most
    /// `--max-input-files` (default 100) files of at most `--max-input-file-bytes` each and
    /// `--max-input-files-bytes` in all (decoded; larger is a 413).
    #[serde(default)]
    pub files: Option<Vec<InputFile>>,
    /// Run this one of `files` as the program instead of `code` (Python: as `__main__` with
    /// its directory first on `sys.path`; JavaScript: as the main module, so relative
    /// `require`/`import` resolve beside it).
    #[serde(default)]
    #[schema(example = "main.py")]
    pub entry: Option<String>,
    /// Glob patterns relative to the working directory (`*`, `?` and `[set]` within one path
    /// component, `**` across components). After the program ends, the regular files they
    /// match come back in the answer's `files` (never symlinks, FIFOs or devices), at most
    /// `--max-output-files` files and `--max-output-files-bytes` bytes in all.
    #[serde(default)]
    #[schema(example = json!(["*.png", "out/**"]))]
    pub output_files: Option<Vec<String>>,
}

/// How a file's `content` is written in JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileEncoding {
    /// The content is the text itself.
    #[default]
    Utf8,
    /// The content is standard base64 (RFC 4648, with padding).
    Base64,
}

/// A file given to a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputFile {
    /// Path relative to the working directory: no leading `/`, no `..`, no NUL or control
    /// characters, no backslash, at most 255 bytes and 8 components.
    #[schema(example = "data/input.csv", max_length = 255)]
    pub path: String,
    /// The content, in `encoding`.
    pub content: String,
    /// `utf8` (default) or `base64`.
    #[serde(default)]
    pub encoding: FileEncoding,
}

/// A file a run left in its working directory that matched `outputFiles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputFile {
    /// Path relative to the working directory.
    pub path: String,
    /// Size in bytes, as written by the program.
    pub size: u64,
    /// `utf8` when the file is valid UTF-8 text (secret values then replaced by `***`, as in
    /// `output`), else `base64` (the bytes exactly as written).
    pub encoding: FileEncoding,
    /// The content, in `encoding`.
    pub content: String,
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
    /// The files that matched `outputFiles`, in path order; present when it was given.
    /// Empty when the run was killed (timeout, memory, output cap, cancelled) before they
    /// could be collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<OutputFile>>,
    /// Present and `true` when matching files were left out by the count or size bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_truncated: Option<bool>,
    /// Present and `true` when the run was stopped by its client (disconnect or
    /// `POST /api/v1/executions/{id}/cancel`) before it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<bool>,
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

/// The data of a streamed run's `start` event (`Accept: text/event-stream`), its first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStartEvent {
    /// The run's id: `POST /api/v1/executions/{id}/cancel` stops it.
    pub execution_id: Uuid,
}

/// The data of a streamed run's `stdout` and `stderr` events: text as the program wrote it
/// (whole UTF-8 characters, secret values masked). The run's `result` event carries an
/// `ExecuteResponse`, its `error` event an `ErrorBody`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunOutputEvent {
    /// The text.
    pub text: String,
}
