//! A session's files: put, get, list and delete under its `/work`, through its kernel (the
//! server never opens a session's files itself: see `pyth_on_sandbox::session::file`). One
//! operation at a time, and not while a cell runs (the kernel is busy: [`SessionError::Busy`]);
//! each touches the session like a cell does. Writes and deletes are on the audit record
//! (path, size and digest, never the content); reads and listings are not.

use std::sync::Arc;

use pyth_on_launcher::{EntryKind, FileErrorKind, FileOp, FileOpResult, LaunchError};
use pyth_on_types::{FileKind, SessionFile, SessionFileEntry, SessionFileList};
use serde_json::json;
use uuid::Uuid;

use super::{end, get, EndReason, Entry, SessionError};
use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::execution::detached;
use crate::state::AppState;

/// Why a file operation failed in the session (the session goes on).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The path breaks the rules of file paths.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: pyth_on_sandbox::files::PathError,
    },
    /// No such file or directory.
    #[error("no such file or directory in the session")]
    NotFound,
    /// A read of a directory (or a FIFO, a link...), a listing of a file, a write over a
    /// directory.
    #[error("{0}")]
    WrongKind(String),
    /// An upload over `--max-input-file-bytes`.
    #[error("the file is {size} bytes; the limit is {limit}")]
    UploadTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: u64,
    },
    /// A file over the download bound, or over the session's file size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The session's working directory is full.
    #[error("the session's working directory is full ({0})")]
    NoSpace(String),
    /// Anything else the kernel reported.
    #[error("{0}")]
    Failed(String),
}

/// Writes `content` to `path` in the caller's session `id` (parents created, an existing file
/// replaced).
pub async fn put(
    state: &AppState,
    user: &Caller,
    id: Uuid,
    path: &str,
    content: Vec<u8>,
) -> Result<SessionFile, SessionError> {
    let limit = state.settings().files.max_input_file_bytes;
    if content.len() as u64 > limit {
        let size = content.len();
        return Err(FileError::UploadTooLarge { size, limit }.into());
    }
    let path = checked(path)?;
    let details = json!({
        "path": path,
        "size": content.len(),
        "sha256": audit::code_digest(&content),
    });
    let op = FileOp::Write {
        path: path.clone(),
        content,
    };
    let (entry, done) = operate(state, user, id, op).await?;
    record(state, user, &entry, Action::SessionFilePut, details).await?;
    Ok(SessionFile {
        path,
        size: done.size,
    })
}

/// The content of `path` in the caller's session `id` (at most `--max-output-files-bytes`).
pub async fn read(
    state: &AppState,
    user: &Caller,
    id: Uuid,
    path: &str,
) -> Result<Vec<u8>, SessionError> {
    let max_bytes = state.settings().files.max_output_files_bytes;
    let op = FileOp::Read {
        path: checked(path)?,
        max_bytes,
    };
    let (_, done) = operate(state, user, id, op).await?;
    Ok(done.content)
}

/// One directory of the caller's session `id` (`""`: `/work`).
pub async fn list(
    state: &AppState,
    user: &Caller,
    id: Uuid,
    dir: &str,
) -> Result<SessionFileList, SessionError> {
    let dir = match dir.trim_matches(['/', '.']) {
        "" => String::new(),
        _ => checked(dir)?,
    };
    let op = FileOp::List { dir: dir.clone() };
    let (_, done) = operate(state, user, id, op).await?;
    let entries = done.entries.into_iter().map(|e| SessionFileEntry {
        path: e.path,
        kind: match e.kind {
            EntryKind::File => FileKind::File,
            EntryKind::Directory => FileKind::Directory,
            EntryKind::Other => FileKind::Other,
        },
        size: e.size,
    });
    Ok(SessionFileList {
        dir,
        entries: entries.collect(),
        truncated: done.truncated,
    })
}

/// Deletes `path` (a file, a link, or a directory and everything in it) in the caller's
/// session `id`.
pub async fn delete(
    state: &AppState,
    user: &Caller,
    id: Uuid,
    path: &str,
) -> Result<(), SessionError> {
    let path = checked(path)?;
    let details = json!({ "path": path });
    let op = FileOp::Delete { path };
    let (entry, _) = operate(state, user, id, op).await?;
    record(state, user, &entry, Action::SessionFileDelete, details).await
}

/// The path in normal form, or why not.
fn checked(path: &str) -> Result<String, FileError> {
    pyth_on_sandbox::files::check_relative_path(path).map_err(|reason| FileError::InvalidPath {
        path: path.to_string(),
        reason,
    })
}

/// Runs `op` in the session, detached from the request: the entry and the kernel's answer,
/// or the kernel's error as a [`FileError`].
async fn operate(
    state: &AppState,
    user: &Caller,
    id: Uuid,
    op: FileOp,
) -> Result<(Arc<Entry>, FileOpResult), SessionError> {
    let entry = get(state, user, id)?;
    let (owned, user) = (state.clone(), *user);
    detached(state, async move {
        let done = through_kernel(&owned, &user, &entry, op).await?;
        match done.error.clone() {
            None => Ok((entry, done)),
            Some(e) => Err(failure(e.kind, e.message).into()),
        }
    })
    .await
}

async fn through_kernel(
    state: &AppState,
    user: &Caller,
    entry: &Entry,
    op: FileOp,
) -> Result<FileOpResult, SessionError> {
    let mut kernel = entry.kernel.try_lock().map_err(|_| SessionError::Busy)?;
    entry.touch();
    let done = kernel.file(op).await;
    drop(kernel);
    entry.touch();
    super::records::touched(state, entry);
    // The kernel died under the operation (or its sandbox failed): the session is over.
    let (details, closed) = match done {
        Ok(outcome) => match outcome.ended {
            None => return Ok(outcome.file),
            Some(status) => (json!({ "exitCode": status.exit_code }), false),
        },
        Err(err) => (
            json!({ "error": err.to_string() }),
            matches!(err, LaunchError::Closed),
        ),
    };
    if state.sessions().remove(entry.owner(), entry.id).is_some() {
        end(state, user, entry, EndReason::Exited, details).await;
    }
    Err(match closed {
        true => SessionError::NotFound,
        false => SessionError::SandboxFailed,
    })
}

fn failure(kind: FileErrorKind, message: String) -> FileError {
    match kind {
        FileErrorKind::NotFound => FileError::NotFound,
        FileErrorKind::WrongKind => FileError::WrongKind(message),
        FileErrorKind::TooLarge => FileError::TooLarge(message),
        FileErrorKind::NoSpace => FileError::NoSpace(message),
        FileErrorKind::Failed => FileError::Failed(message),
    }
}

async fn record(
    state: &AppState,
    user: &Caller,
    entry: &Entry,
    action: Action,
    details: serde_json::Value,
) -> Result<(), SessionError> {
    let id = Some(entry.id.to_string());
    let event = audit::by(user, action, id, Outcome::Success, details);
    state.store().append_audit(&event).await?;
    Ok(())
}
