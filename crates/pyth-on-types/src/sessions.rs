//! Sessions (`/api/v1/sessions`): a live interpreter that keeps its state between cells.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Opens a session: a sandbox with a live interpreter, the caller's secrets in its
/// environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// `python` (`py`, `python3`) or `javascript` (`js`, `node`, `nodejs`). Default `python`.
    #[serde(default)]
    #[schema(value_type = Option<crate::LanguageName>)]
    pub language: Option<String>,
    /// Memory limit of the whole session in MiB, 16 to the server's maximum
    /// (`--max-memory-mb`). Default: `--default-memory-mb`.
    #[serde(default, deserialize_with = "crate::number::optional_whole")]
    #[schema(minimum = 16, maximum = 2048)]
    pub memory_mb: Option<u64>,
    /// Seconds without a cell after which the session ends, 1 to the server's
    /// `--session-idle-timeout-secs` (default and maximum, 600 unless configured).
    #[serde(default, deserialize_with = "crate::number::optional_whole")]
    #[schema(minimum = 1, maximum = 3600)]
    pub idle_timeout_sec: Option<u64>,
    /// Seconds after which the session ends however busy, 1 to the server's
    /// `--session-max-lifetime-secs` (default and maximum, 3600 unless configured).
    #[serde(default, deserialize_with = "crate::number::optional_whole")]
    #[schema(minimum = 1, maximum = 86400)]
    pub max_lifetime_sec: Option<u64>,
    /// Extra environment variables (at most 64; names like secrets' names, values at most
    /// 32768 bytes without NUL). The caller's secrets are added and win over these.
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
    /// Packages to make importable in the session, added to (and overriding by name) the
    /// caller's stored list for the language, installed in their sandbox before the session
    /// opens (as a run's `packages`).
    #[serde(default)]
    pub packages: Option<Vec<String>>,
    /// Network access through the server's egress proxy for the session's whole life (the
    /// server must allow it; the caller's allow-list applies). Default `false`: no network.
    #[serde(default)]
    pub network: Option<bool>,
    /// The secrets this request needs, by name (at most 100): only these are injected as
    /// environment variables and redacted from the output. Absent: the account's
    /// `secretsDefault` decides (`all`, the default, or `none`). A name the account has no
    /// secret under is a 400 `unknown_secret`.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub secrets: Option<Vec<String>>,
}

/// An open session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The session's id (only its owner can see or use it).
    pub id: Uuid,
    /// `python` or `javascript`.
    pub language: String,
    /// `idle`, `busy` (a cell is running), or `unknown` (listed from its record: the session
    /// is on another server node; get it for its live status).
    pub status: String,
    /// Memory limit of the session in MiB.
    pub memory_mb: u64,
    /// Idle timeout in seconds.
    pub idle_timeout_sec: u64,
    /// Lifetime in seconds.
    pub max_lifetime_sec: u64,
    /// When it was opened (RFC 3339 UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its last cell ended, or it was opened.
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
    /// When it ends if unused (the earlier of its idle deadline and its lifetime's end).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The caller's open sessions on every server node.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionList {
    /// Oldest first.
    pub sessions: Vec<SessionInfo>,
}

/// One cell to run in a session.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CellRequest {
    /// UTF-8 source without NUL, at most the server's code limit (`--max-code-bytes`).
    #[schema(example = "x = 1", pattern = r"^[^\x00]*$", max_length = 524288)]
    pub code: String,
    /// Wall-clock limit of the cell in milliseconds, 1 to `--max-timeout-ms`; past it the cell
    /// is interrupted (`KeyboardInterrupt` / the script stopped) and the session goes on.
    /// Default: `--default-timeout-ms`.
    #[serde(default, deserialize_with = "crate::number::optional_whole")]
    #[schema(minimum = 1, maximum = 60000)]
    pub timeout_ms: Option<u64>,
}

/// A rich result of a cell: a displayed value or the final expression's value.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CellOutput {
    /// `text/plain`, `text/html`, `image/png`, `application/json`, ...
    pub mime: String,
    /// The content (base64 for binary types).
    pub data: String,
}

/// What a cell raised.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CellFailure {
    /// Exception class or error name (`ValueError`, `KeyboardInterrupt`, `TypeError`).
    pub name: String,
    /// Its message.
    pub message: String,
    /// Traceback (Python) or stack (JavaScript).
    pub traceback: String,
}

/// The answer of one cell. Secret values in its text are replaced with `***`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CellResponse {
    /// The cell's standard output.
    pub stdout: String,
    /// The cell's standard error.
    pub stderr: String,
    /// Displayed values and the final expression's value, in order.
    pub results: Vec<CellOutput>,
    /// Some results were dropped (more than 4 MiB).
    pub results_truncated: bool,
    /// What the cell raised, if anything.
    pub error: Option<CellFailure>,
    /// The cell passed its limit and was interrupted.
    pub timed_out: bool,
    /// The cell was interrupted on request (`POST .../interrupt`).
    #[serde(default)]
    pub interrupted: bool,
    /// stdout or stderr passed the per-stream cap; the rest was dropped.
    pub output_truncated: bool,
    /// The session's memory limit was hit during the cell.
    pub memory_exceeded: bool,
    /// The interpreter ended during this cell (`exit()`, a crash, memory): the session is
    /// over and its id unknown from now on.
    pub session_ended: bool,
    /// The interpreter's exit code when `sessionEnded`.
    pub exit_code: Option<i32>,
    /// Wall-clock time of the cell in milliseconds.
    pub duration_ms: f64,
}

/// The answer of `POST /api/v1/sessions/{id}/interrupt`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InterruptResponse {
    /// A cell was running and got the interrupt (its own answer then says `interrupted`);
    /// `false`: the session was idle, nothing was done.
    pub interrupted: bool,
}

/// A file written into a session's working directory (`PUT .../files/{path}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SessionFile {
    /// Its path relative to the working directory `/work`, in normal form.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What a directory entry is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A regular file (its content can be read).
    File,
    /// A directory.
    Directory,
    /// Anything else: a symbolic link, a FIFO, a socket.
    Other,
}

/// One entry of a session directory's listing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SessionFileEntry {
    /// Its path relative to `/work`.
    pub path: String,
    /// File, directory or other.
    #[serde(rename = "type")]
    pub kind: FileKind,
    /// Size in bytes (0 for directories).
    pub size: u64,
}

/// One directory of a session's working directory (`GET .../files?dir=`), not recursive.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SessionFileList {
    /// The directory listed, relative to `/work` (`""` for `/work` itself).
    pub dir: String,
    /// Its entries, by path.
    pub entries: Vec<SessionFileEntry>,
    /// More entries exist than the listing's bound (1000).
    pub truncated: bool,
}

/// The data of a streamed cell's `start` event. Its `stdout` and `stderr` events carry a
/// `RunOutputEvent`, its `result` event a `CellResponse`, its `error` event an `ErrorBody`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CellStartEvent {
    /// The session the cell runs in.
    pub session_id: Uuid,
}
