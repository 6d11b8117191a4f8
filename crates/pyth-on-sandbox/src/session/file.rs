//! Files of a live session: writing, reading, listing and deleting under `/work` while the
//! kernel lives. The supervisor never touches the session's files itself (its processes could
//! swap any path for a link at any moment): each operation is one record down the release
//! pipe, done by the kernel inside the sandbox, with the session's own uid, seccomp filter and
//! mount namespace, exactly as a cell calling `open()` would, and answered on the cell-result
//! pipe. The answer is untrusted like any cell record: bounded and parsed defensively.
//!
//! While an operation runs the supervisor reads neither stdout nor stderr: what a background
//! thread prints between cells stays in the pipes for the next cell. The kernel holds SIGINT
//! blocked outside cells, so an operation past [`FILE_OP_TIMEOUT`] (a kernel wedged by its
//! user's threads) ends the session once the interrupt's grace is over.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cell::CellRun;
use super::open::Session;
use crate::error::SandboxError;
use crate::files::{base64_bytes, check_relative_path};
use crate::protocol::{self, JobResult, RunnerFrame};

/// How long one file operation may take before the session is interrupted (and, past the
/// grace, killed).
pub const FILE_OP_TIMEOUT: Duration = Duration::from_secs(30);

/// Most entries one listing returns.
pub const MAX_LIST_ENTRIES: usize = 1000;

/// Largest file a read may return (the answer travels base64-encoded in one frame).
pub const MAX_READ_BYTES: u64 = 32 << 20;

/// One operation on the session's files. Paths are relative to `/work` (checked by
/// [`check_relative_path`] on both sides of the runner).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FileOp {
    /// Create or replace a regular file (parents created).
    Write {
        /// Where.
        path: String,
        /// The bytes.
        #[serde(with = "base64_bytes")]
        content: Vec<u8>,
    },
    /// Read a regular file of at most `max_bytes`.
    Read {
        /// Which.
        path: String,
        /// Larger files are refused (`too_large`).
        max_bytes: u64,
    },
    /// List one directory (`""`: `/work` itself), not recursively, entries not followed.
    List {
        /// Which.
        dir: String,
    },
    /// Delete a file, a link or a whole directory tree.
    Delete {
        /// Which.
        path: String,
    },
}

impl std::fmt::Debug for FileOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Write { path, content } => f
                .debug_struct("Write")
                .field("path", path)
                .field("content", &format_args!("<{} bytes>", content.len()))
                .finish(),
            Self::Read { path, max_bytes } => f
                .debug_struct("Read")
                .field("path", path)
                .field("max_bytes", max_bytes)
                .finish(),
            Self::List { dir } => f.debug_struct("List").field("dir", dir).finish(),
            Self::Delete { path } => f.debug_struct("Delete").field("path", path).finish(),
        }
    }
}

impl FileOp {
    /// The operation with its path in normal form; refused if the path breaks the rules (a
    /// list of `""` is `/work` itself).
    pub fn checked(self) -> Result<Self, crate::files::PathError> {
        Ok(match self {
            Self::Write { path, content } => Self::Write {
                path: check_relative_path(&path)?,
                content,
            },
            Self::Read { path, max_bytes } => Self::Read {
                path: check_relative_path(&path)?,
                max_bytes: max_bytes.min(MAX_READ_BYTES),
            },
            Self::List { dir } if dir.trim_matches(['/', '.']).is_empty() => {
                Self::List { dir: String::new() }
            }
            Self::List { dir } => Self::List {
                dir: check_relative_path(&dir)?,
            },
            Self::Delete { path } => Self::Delete {
                path: check_relative_path(&path)?,
            },
        })
    }

    /// Bytes the kernel's answer may take (the read content base64-encoded, or a listing).
    fn max_record(&self) -> usize {
        let margin = 1 << 20;
        match self {
            Self::Read { max_bytes, .. } => {
                usize::try_from(max_bytes.div_ceil(3) * 4).unwrap_or(usize::MAX) + margin
            }
            _ => margin,
        }
    }
}

/// What a directory entry is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// Anything else (a link, a FIFO, a socket, a device).
    Other,
}

/// One entry of a listing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to `/work`.
    pub path: String,
    /// What it is (links are not followed).
    pub kind: EntryKind,
    /// Size in bytes (0 unless a regular file).
    #[serde(default)]
    pub size: u64,
}

/// Why a file operation failed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FileErrorKind {
    /// No such file or directory.
    NotFound,
    /// A read of something other than a regular file, a list of something other than a
    /// directory, or a write over a directory.
    WrongKind,
    /// Larger than the read's bound, or than the session's file size limit.
    TooLarge,
    /// The working directory is full (its size or inode cap).
    NoSpace,
    /// Anything else (permissions, a path component that is a file, ...).
    Failed,
}

/// The error of a file operation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileError {
    /// Its kind.
    pub kind: FileErrorKind,
    /// The kernel's words for it.
    #[serde(default)]
    pub message: String,
}

/// The answer to a [`FileOp`].
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct FileOpResult {
    /// Why it failed, if it did.
    #[serde(default)]
    pub error: Option<FileError>,
    /// A read's content.
    #[serde(default, with = "base64_bytes")]
    pub content: Vec<u8>,
    /// A write's or read's size in bytes.
    #[serde(default)]
    pub size: u64,
    /// A listing's entries, by path.
    #[serde(default)]
    pub entries: Vec<FileEntry>,
    /// The listing stopped at [`MAX_LIST_ENTRIES`].
    #[serde(default)]
    pub truncated: bool,
    /// The kernel died (or was killed) during the operation; a `Result` frame with its status
    /// follows.
    #[serde(default)]
    pub session_ended: bool,
}

impl std::fmt::Debug for FileOpResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileOpResult")
            .field("error", &self.error)
            .field("content", &format_args!("<{} bytes>", self.content.len()))
            .field("size", &self.size)
            .field("entries", &self.entries.len())
            .field("truncated", &self.truncated)
            .field("session_ended", &self.session_ended)
            .finish()
    }
}

impl Session {
    /// Does `op` through the kernel; its `FileResult` goes to `output`. `Some` when the
    /// session ended with it (its final status, to be sent as `Result`).
    pub(super) fn file(
        &mut self,
        op: FileOp,
        output: &mut impl Write,
    ) -> Result<Option<JobResult>, SandboxError> {
        let result = match op.checked() {
            Err(e) => refused(FileErrorKind::Failed, format!("invalid path: {e}")),
            Ok(FileOp::Write { content, .. }) if content.len() as u64 > self.fsize_limit => {
                let limit = self.fsize_limit;
                refused(
                    FileErrorKind::TooLarge,
                    format!("files are limited to {limit} bytes"),
                )
            }
            Ok(op) => return self.file_through_kernel(&op, output),
        };
        send(output, result)?;
        Ok(None)
    }

    fn file_through_kernel(
        &mut self,
        op: &FileOp,
        output: &mut impl Write,
    ) -> Result<Option<JobResult>, SandboxError> {
        let mut run = CellRun::for_record(op, op.max_record(), false)?;
        let deadline = Instant::now() + FILE_OP_TIMEOUT;
        let body = {
            let mut sink = crate::output_frames(output);
            self.exchange(&mut run, deadline, &mut sink)?
        };
        let mut result = match body.map(|b| serde_json::from_slice::<FileOpResult>(&b)) {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                run.malformed = Some(format!("malformed file record: {e}"));
                run.killed = true;
                FileOpResult::default()
            }
            None => FileOpResult::default(),
        };
        let ended = run.killed || run.ended;
        if let Some(message) = run.malformed.take() {
            result.error = Some(FileError {
                kind: FileErrorKind::Failed,
                message,
            });
        } else if ended && result.error.is_none() {
            result.error = Some(FileError {
                kind: FileErrorKind::Failed,
                message: "the session ended".into(),
            });
        }
        result.session_ended = ended;
        send(output, result)?;
        Ok(ended.then(|| self.end(run.killed, run.timed_out)))
    }
}

fn refused(kind: FileErrorKind, message: String) -> FileOpResult {
    FileOpResult {
        error: Some(FileError { kind, message }),
        ..FileOpResult::default()
    }
}

fn send(output: &mut impl Write, result: FileOpResult) -> Result<(), SandboxError> {
    protocol::write_frame(output, &RunnerFrame::FileResult(Box::new(result)))
        .map_err(|e| SandboxError::Stream(io::Error::other(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_op_travels_tagged_with_its_content_in_base64() {
        let op = FileOp::Write {
            path: "a.bin".into(),
            content: vec![0, 255],
        };
        let json = serde_json::to_string(&op).unwrap();
        assert_eq!(json, r#"{"op":"write","path":"a.bin","content":"AP8="}"#);
        assert!(!format!("{op:?}").contains("255"));
        let answer: FileOpResult = serde_json::from_str(r#"{"error":null}"#).unwrap();
        assert!(answer.content.is_empty() && answer.entries.is_empty());
    }

    #[test]
    fn paths_are_checked_and_a_listing_of_the_root_is_allowed() {
        let list = |dir: &str| FileOp::List { dir: dir.into() }.checked();
        assert_eq!(list("").unwrap(), FileOp::List { dir: String::new() });
        assert_eq!(list("./").unwrap(), FileOp::List { dir: String::new() });
        assert_eq!(list("a//b").unwrap(), FileOp::List { dir: "a/b".into() });
        assert!(list("../etc").is_err());
        let delete = FileOp::Delete { path: ".".into() };
        assert!(
            delete.checked().is_err(),
            "the root itself cannot be deleted"
        );
        let read = FileOp::Read {
            path: "x".into(),
            max_bytes: u64::MAX,
        };
        let Ok(FileOp::Read { max_bytes, .. }) = read.checked() else {
            panic!("a read")
        };
        assert_eq!(max_bytes, MAX_READ_BYTES);
    }
}
