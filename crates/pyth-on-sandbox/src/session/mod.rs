//! Sessions: one sandbox, exactly as isolated as a run's, holding a live interpreter (the
//! *kernel*) that runs many cells against the same globals, with `/work` kept between cells.
//!
//! ```text
//! server ── Session(profile) ──▶ runner       (profile: no code, stdin, args, files, zk,
//!                                              egress, output, stream; `env` allowed)
//! runner ── Ready{preisolated:true} ──▶ server (the kernel is up, the env applied)
//! server ── Cell{code, timeout_ms} ──▶ runner  (one at a time)
//! runner ── Output{stream, data} ──▶ server    (0..n, at most max_output_bytes per stream)
//! runner ── CellResult{results, error, timed_out, ...} ──▶ server
//!    ... more cells ...
//! server ── EOF ──▶ runner                    (the session ends: torn down, runner exits)
//! ```
//!
//! When the kernel dies during a cell (`exit()`, `os._exit(3)`, `process.exit()`, the memory
//! cgroup's OOM kill, a crash, a cell that ignored its interrupt), the runner sends that cell's
//! `CellResult` with `session_ended: true`, then `Result(JobResult)` (exit code, signal,
//! `memory_exceeded`, `timed_out`; stdout and stderr empty: they were streamed), tears down
//! and exits.
//!
//! **Set-up.** The runner sets [`JobSpec::session`] on the profile and prepares the sandbox
//! through the very same path as a warm pool's pre-started interpreter
//! ([`crate::supervisor::prepare`], [`crate::warm`]): every control in place, then the payload
//! `execve`s the interpreter on a kernel bootstrap ([`kernel_argv`]) with the release pipe on
//! descriptor 3, the error pipe on 5, the status pipe on 6 and the write end of one more pipe,
//! the *cell-result pipe*, on [`RESULT_FD`] (7). The kernel says `ready` on the status pipe;
//! the supervisor then sends the session's opening record (its environment: secrets reach the
//! sandbox only here, never in argv or the profile) down the release pipe; the kernel applies
//! it, closes the status and error pipes (EOF on the error pipe = the kernel runs) and waits
//! for cells. From here on the status pipe is init's alone (its report of the kernel's exit).
//!
//! A session with egress gets its relay as a run does (started inside the sandbox's network
//! namespace once it is prepared, before the kernel exists), and the proxy variables in its
//! opening record, last, so they win.
//!
//! **Cells.** Each cell is one record down the release pipe (a big-endian `u32` length and
//! JSON `{code, max_results}`); the kernel answers one record on the cell-result pipe
//! (`{results, results_truncated, error}`) once the cell's stdout and stderr are flushed. The
//! supervisor ([`cell`]) streams stdout/stderr as `Output` frames while the cell runs (a
//! per-cell cap per stream: past it the rest of the cell's output is dropped and the cell is
//! interrupted), and at the cell's deadline sends **SIGINT** to the kernel process (pinned by a
//! pidfd): Python raises `KeyboardInterrupt` in the cell, Node stops the cell's synchronous
//! code (`vm` `breakOnSigint`) or abandons the promise a top-level `await` waits for. If no
//! record came [`INTERRUPT_GRACE`] later, the whole sandbox is killed and the session ends.
//! The server can ask for the same interrupt before the deadline: while a cell runs the
//! supervisor polls its own stdin (unbuffered) for an `Interrupt` frame (one that comes
//! between cells is dropped, so it never reaches the next cell); the cell then answers
//! `interrupted: true`. The signal comes from the supervisor, outside the sandbox: the cell
//! gains no way to signal anything.
//!
//! **Trust.** The kernel shares its process with the user's code: the release pipe and the
//! cell-result pipe are reachable by the cell (it could read its own next cell or forge its
//! own result). The supervisor therefore treats records as untrusted output, like stdout:
//! bounded ([`MAX_RECORD_BYTES`]), parsed defensively, a malformed one ends the session. What
//! the supervisor relies on stays out of reach: init's status report, the cgroup, the pidfds.

mod cell;
pub mod file;
pub mod kernel;
mod open;

use std::io::{Read, Write};
use std::os::fd::AsFd;

use serde::{Deserialize, Serialize};

use crate::cgroup::Cgroups;
use crate::protocol::{self, JobSpec, RunnerFrame, ServerFrame};
use crate::RunnerError;

pub use file::{
    EntryKind, FileEntry, FileError, FileErrorKind, FileOp, FileOpResult, FILE_OP_TIMEOUT,
    MAX_LIST_ENTRIES, MAX_READ_BYTES,
};
pub use kernel::{kernel_argv, NODE_KERNEL, PYTHON_KERNEL, RESULT_FD};

/// Most bytes of rich results one cell may return (base64 included); past it the kernel
/// drops results and sets `results_truncated`.
pub const MAX_RESULT_BYTES: usize = 4 << 20;

/// Largest cell-result record the supervisor accepts (results, error text, JSON overhead).
pub const MAX_RECORD_BYTES: usize = MAX_RESULT_BYTES + (1 << 20);

/// How long a cell may take to answer its SIGINT before the session is killed.
pub const INTERRUPT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// A cell's wall-clock limit when its frame gives none.
pub const DEFAULT_CELL_TIMEOUT_MS: u64 = 30_000;

/// One cell of a session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CellSpec {
    /// Source of the cell.
    pub code: String,
    /// Wall-clock limit of the cell; 0: [`DEFAULT_CELL_TIMEOUT_MS`].
    #[serde(default)]
    pub timeout_ms: u64,
}

/// A rich result: a MIME type and its data (text, or base64 for binary types such as
/// `image/png`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RichResult {
    /// `text/plain`, `text/html`, `image/png`, `application/json`, ...
    pub mime: String,
    /// The content (base64 for binary types).
    pub data: String,
}

/// The exception (Python) or error (JavaScript) a cell raised.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct CellError {
    /// Exception class / error name (`ValueError`, `KeyboardInterrupt`, `TypeError`).
    pub name: String,
    /// Its message.
    #[serde(default)]
    pub message: String,
    /// The traceback (Python) or stack (JavaScript) as text.
    #[serde(default)]
    pub traceback: String,
}

/// The outcome of one cell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CellResult {
    /// Displayed values and the final expression's value, in order.
    #[serde(default)]
    pub results: Vec<RichResult>,
    /// Some results were dropped by [`MAX_RESULT_BYTES`].
    #[serde(default)]
    pub results_truncated: bool,
    /// What the cell raised, if anything.
    #[serde(default)]
    pub error: Option<CellError>,
    /// The cell passed its deadline and was interrupted (or, failing that, the session killed).
    #[serde(default)]
    pub timed_out: bool,
    /// stdout or stderr passed the per-cell cap; the rest was dropped, the cell interrupted.
    #[serde(default)]
    pub output_truncated: bool,
    /// The memory cgroup OOM-killed a process of the session during this cell (the kernel,
    /// which ends the session, or a process it started).
    #[serde(default)]
    pub memory_exceeded: bool,
    /// The kernel died during this cell; a `Result` frame with its status follows.
    #[serde(default)]
    pub session_ended: bool,
    /// The server interrupted the cell (an `Interrupt` frame): SIGINT to the kernel, then,
    /// past [`INTERRUPT_GRACE`] without an answer, the sandbox killed.
    #[serde(default)]
    pub interrupted: bool,
    /// Cell sent to cell over, in milliseconds.
    #[serde(default)]
    pub duration_ms: f64,
}

/// The record that starts a session's kernel: its environment.
#[derive(Serialize)]
struct Opening<'a> {
    env: Vec<(&'a str, &'a str)>,
}

/// A cell as the kernel reads it.
#[derive(Serialize)]
struct KernelCell<'a> {
    code: &'a str,
    max_results: usize,
}

/// Serves a session on a runner's stdin/stdout (after the `Session` frame): opens the
/// sandbox, answers `Ready{preisolated: true}`, runs cells until EOF or the kernel's death,
/// then tears down. Failures to open are reported as `Failed`.
pub(crate) fn serve(
    profile: JobSpec,
    cgroups: &dyn Cgroups,
    input: &mut (impl Read + AsFd),
    output: &mut impl Write,
) -> Result<(), RunnerError> {
    // The same pipe, polled for `Interrupt` frames while a cell runs (`input` is unbuffered).
    let control = input
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .map(std::fs::File::from);
    let mut session = match open::open(profile, cgroups) {
        Ok(s) => s,
        Err(e) => {
            let error = crate::error_chain(&e);
            protocol::write_frame(output, &RunnerFrame::Failed { error })?;
            return Ok(());
        }
    };
    session.control = control;
    protocol::write_frame(output, &crate::ready_frame(cgroups, true))?;
    loop {
        let frame = match protocol::read_frame::<ServerFrame>(input) {
            Ok(frame @ (ServerFrame::Cell(_) | ServerFrame::File(_))) => frame,
            // Meant for a cell that ended before it was read.
            Ok(ServerFrame::Interrupt) => continue,
            Ok(_) => {
                let error = "a session takes only Cell and File frames".to_string();
                protocol::write_frame(output, &RunnerFrame::Failed { error })?;
                break;
            }
            Err(protocol::FrameError::Closed) => break,
            Err(e) => {
                let _ = session.finish();
                return Err(e.into());
            }
        };
        let done = match frame {
            ServerFrame::File(op) => session.file(op, output),
            ServerFrame::Cell(cell) => session.cell(&cell, output),
            _ => Ok(None),
        };
        match done {
            Ok(Some(end)) => {
                let sent = protocol::write_frame(output, &RunnerFrame::Result(Box::new(end)));
                session.finish().map_err(RunnerError::Teardown)?;
                return Ok(sent?);
            }
            Ok(None) => {}
            Err(e) => {
                let error = crate::error_chain(&e);
                let sent = protocol::write_frame(output, &RunnerFrame::Failed { error });
                session.finish().map_err(RunnerError::Teardown)?;
                return Ok(sent?);
            }
        }
    }
    session.finish().map_err(RunnerError::Teardown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_frame_may_omit_its_timeout_and_a_kernel_record_its_supervisor_fields() {
        let json = r#"{"type":"cell","code":"x"}"#;
        let frame: ServerFrame = serde_json::from_str(json).unwrap();
        let ServerFrame::Cell(cell) = frame else {
            panic!("a cell frame")
        };
        assert_eq!((cell.code.as_str(), cell.timeout_ms), ("x", 0));
        let record = r#"{"results":[{"mime":"text/plain","data":"2"}],"error":null}"#;
        let r: CellResult = serde_json::from_str(record).unwrap();
        assert_eq!(r.results[0].data, "2");
        assert!(!r.timed_out && !r.session_ended && r.error.is_none());
    }
}
