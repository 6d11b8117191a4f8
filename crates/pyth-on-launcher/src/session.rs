//! Sessions seen from the async side: one runner per session (a sandbox with a live
//! interpreter, see `pyth_on_sandbox::session`), holding its per-run uid lease for the
//! session's whole life, spoken to one cell at a time.
//!
//! A session takes **no execution slot** of the launcher: it is idle most of its life. The
//! caller bounds concurrency itself: the server is expected to hold one of its own slots only
//! while a cell runs (around [`Session::cell`]), and to bound how many sessions are open and
//! for how long (idle timeout, lifetime) since each holds a sandbox, a uid and memory.
//! Dropping a [`Session`] kills its runner (the sandbox dies with it: `PDEATHSIG`); the uid
//! goes back only once every process of the session is gone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::Notify;

use pyth_on_sandbox::protocol::{
    self, Bind, CellResult, CellSpec, EgressSpec, EnvVar, JobResult, JobSpec, Language,
    RunnerFrame, ServerFrame, Stream,
};
use pyth_on_sandbox::session::{FileOp, FileOpResult, FILE_OP_TIMEOUT, INTERRUPT_GRACE};

use crate::job::LaunchError;
use crate::runner::{read_frame, OutputSink, RunnerProc};

/// How long a session's sandbox and kernel may take to start.
const OPEN_DEADLINE: Duration = Duration::from_secs(30);

/// What a session is opened with.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The kernel's language.
    pub language: Language,
    /// Environment of the kernel (secrets included): sent once, when the session opens, down
    /// the sandbox's release pipe, never on a command line.
    pub env: Vec<(String, String)>,
    /// Memory limit of the whole session (`None`: the launcher's default).
    pub memory_mb: Option<u64>,
    /// Per-cell cap on each of stdout and stderr (`None`: the launcher's default).
    pub max_output_bytes: Option<u64>,
    /// CPU time each process of the session may use in all (`RLIMIT_CPU`): a backstop for
    /// what runs between cells; cells have their own wall-clock limits.
    pub cpu_budget: Duration,
    /// Read-only bind mounts (a package environment), as a job's.
    pub binds: Vec<Bind>,
    /// The session's egress relay, as a job's (`None`: no network).
    pub egress: Option<EgressSpec>,
}

impl SessionConfig {
    /// Defaults: no environment, the launcher's memory and output limits, 10 minutes of CPU.
    pub fn new(language: Language) -> Self {
        Self {
            language,
            env: Vec::new(),
            memory_mb: None,
            max_output_bytes: None,
            cpu_budget: Duration::from_secs(600),
            binds: Vec::new(),
            egress: None,
        }
    }
}

/// What one cell gave.
#[derive(Debug, Clone, PartialEq)]
pub struct CellOutcome {
    /// The cell's result (rich results, error, timed out, ...).
    pub cell: CellResult,
    /// The cell's stdout (lossy UTF-8; also streamed to the sink if one was given).
    pub stdout: String,
    /// The cell's stderr.
    pub stderr: String,
    /// The session's final status when this cell ended it (exit code, signal,
    /// `memory_exceeded`, `timed_out`); every later call fails.
    pub ended: Option<JobResult>,
}

/// What one file operation gave.
#[derive(Debug, Clone, PartialEq)]
pub struct FileOutcome {
    /// The kernel's answer (`error` set when the operation failed).
    pub file: FileOpResult,
    /// The session's final status when the operation ended it (the kernel died under it).
    pub ended: Option<JobResult>,
}

/// An open session. One cell at a time (`&mut self`); see the module docs.
#[derive(Debug)]
pub struct Session {
    proc: Option<RunnerProc>,
    language: Language,
    backstop_margin: Duration,
    stop: Arc<Notify>,
    /// The running cell's interrupt channel (`None` between cells).
    interrupts: Arc<Mutex<Option<UnboundedSender<()>>>>,
}

/// Interrupts a session's running cell from outside (see [`Session::interrupter`]): SIGINT to
/// its kernel, as at the cell's deadline. The cell usually ends with a `KeyboardInterrupt`
/// (Python) or an error (JavaScript) and the session lives on; a cell that does not answer
/// within `INTERRUPT_GRACE` ends the session. Between cells it does nothing, and never
/// reaches a later cell.
#[derive(Debug, Clone)]
pub struct Interrupter(Arc<Mutex<Option<UnboundedSender<()>>>>);

impl Interrupter {
    /// Interrupts the running cell; `false` when no cell runs.
    pub fn interrupt(&self) -> bool {
        let slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().is_some_and(|tx| tx.send(()).is_ok())
    }
}

/// Stops a session's cell or file operation in progress from outside (the session is being
/// ended): its runner is killed at once and the call answers [`LaunchError::Closed`]. A stop
/// asked while nothing runs stops the next call instead. See [`Session::stopper`].
#[derive(Debug, Clone)]
pub struct Stopper(Arc<Notify>);

impl Stopper {
    /// Stops what runs now, or the next call.
    pub fn stop(&self) {
        self.0.notify_one();
    }
}

/// The session's profile: the launcher's job description for `cfg.language` (`spec`) with
/// the session's variables and limits.
pub(crate) fn configure(spec: &mut JobSpec, cfg: &SessionConfig) {
    // (The runner sets it for a `Session` frame as well; here it keeps the launcher from
    // leasing the session a reusable network namespace.)
    spec.session = true;
    spec.env = cfg
        .env
        .iter()
        .map(|(name, value)| EnvVar {
            name: name.clone(),
            value: value.clone(),
        })
        .collect();
    spec.limits.memory_mb = cfg.memory_mb.unwrap_or(spec.limits.memory_mb);
    spec.limits.max_output_bytes = cfg.max_output_bytes.unwrap_or(spec.limits.max_output_bytes);
    spec.limits.timeout_ms = u64::try_from(cfg.cpu_budget.as_millis()).unwrap_or(u64::MAX);
}

/// Opens a session in `proc` (a runner spawned with the session's own uid): sends `Session`
/// with `spec` (from [`configure`]), waits for the kernel.
pub(crate) async fn open(
    mut proc: RunnerProc,
    spec: JobSpec,
    cfg: &SessionConfig,
    backstop_margin: Duration,
) -> Result<Session, LaunchError> {
    proc.send(&ServerFrame::Session(Box::new(spec))).await?;
    let ready = tokio::time::timeout(OPEN_DEADLINE, async {
        loop {
            match proc.next_frame().await? {
                RunnerFrame::Ready(r) if r.preisolated => return Ok(()),
                RunnerFrame::Ready(_) => {}
                RunnerFrame::Failed { error } => return Err(LaunchError::Sandbox(error)),
                other => {
                    let what = format!("unexpected frame while opening a session: {other:?}");
                    return Err(LaunchError::Sandbox(what));
                }
            }
        }
    })
    .await;
    match ready {
        Ok(Ok(())) => Ok(Session {
            proc: Some(proc),
            language: cfg.language,
            backstop_margin,
            stop: Arc::new(Notify::new()),
            interrupts: Arc::default(),
        }),
        Ok(Err(e)) => {
            proc.retire().await;
            Err(e)
        }
        Err(_) => Err(LaunchError::Backstop(OPEN_DEADLINE)), // dropping `proc` kills it
    }
}

impl Session {
    /// The session's language.
    pub fn language(&self) -> Language {
        self.language
    }

    /// A handle that stops the call in progress without waiting for it (which holds
    /// `&mut self`).
    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop.clone())
    }

    /// A handle that interrupts the running cell without waiting for it.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter(self.interrupts.clone())
    }

    /// Host pid of the session's runner (`None` once the session ended).
    pub fn runner_pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.pid)
    }

    /// The uid the session's sandbox runs as, when the launcher leases per-run identities.
    pub fn uid(&self) -> Option<u32> {
        self.proc
            .as_ref()
            .and_then(|p| p.identity.as_ref().map(|l| l.id()))
    }

    /// Runs one cell with a wall-clock `timeout`; each chunk of its output also goes to `sink`
    /// as it arrives. A cell that kills the interpreter ends the session
    /// ([`CellOutcome::ended`]); the runner then tears down and the session is closed. A runner
    /// that does not answer within the timeout, the interrupt's grace and the launcher's
    /// backstop margin is killed (`LaunchError::Backstop`; the session is then gone).
    pub async fn cell(
        &mut self,
        code: &str,
        timeout: Duration,
        sink: Option<&OutputSink>,
    ) -> Result<CellOutcome, LaunchError> {
        let proc = self.proc.as_mut().ok_or(LaunchError::Closed)?;
        let timeout_ms = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let cell = ServerFrame::Cell(CellSpec {
            code: code.into(),
            timeout_ms,
        });
        let backstop = timeout + INTERRUPT_GRACE + self.backstop_margin;
        let stop = self.stop.clone();
        let (tx, mut interrupts) = unbounded_channel();
        *self.interrupts.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(backstop, async {
                proc.send(&cell).await?;
                let (stdin, stdout) = proc.pipes();
                tokio::select! {
                    outcome = exchange(stdout, sink) => outcome,
                    never = forward_interrupts(stdin, &mut interrupts) => match never {},
                }
            }) => outcome,
            () = stop.notified() => Ok(Err(LaunchError::Closed)),
        };
        *self.interrupts.lock().unwrap_or_else(|e| e.into_inner()) = None;
        match outcome {
            Ok(Ok(outcome)) => {
                if outcome.ended.is_some() {
                    self.close().await;
                }
                Ok(outcome)
            }
            Ok(Err(e)) => {
                self.proc = None; // killed on drop, its uid released once it is gone
                Err(e)
            }
            Err(_) => {
                self.proc = None;
                Err(LaunchError::Backstop(backstop))
            }
        }
    }

    /// Does one operation on the session's files, through its kernel (see
    /// `pyth_on_sandbox::session::file`). Like [`Session::cell`], a kernel that dies under it
    /// ends the session ([`FileOutcome::ended`]) and a runner that does not answer is killed.
    pub async fn file(&mut self, op: FileOp) -> Result<FileOutcome, LaunchError> {
        let proc = self.proc.as_mut().ok_or(LaunchError::Closed)?;
        let backstop = FILE_OP_TIMEOUT + INTERRUPT_GRACE + self.backstop_margin;
        let stop = self.stop.clone();
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(backstop, async {
                proc.send(&ServerFrame::File(op)).await?;
                file_exchange(proc).await
            }) => outcome,
            () = stop.notified() => Ok(Err(LaunchError::Closed)),
        };
        let outcome = match outcome {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => {
                self.proc = None;
                return Err(e);
            }
            Err(_) => {
                self.proc = None;
                return Err(LaunchError::Backstop(backstop));
            }
        };
        if outcome.ended.is_some() {
            self.close().await;
        }
        Ok(outcome)
    }

    /// Ends the session: EOF on the runner's stdin makes it tear the sandbox down and exit
    /// (killed past a grace period); the uid is released once it exited.
    pub async fn close(&mut self) {
        if let Some(proc) = self.proc.take() {
            proc.retire().await;
        }
    }
}

/// Writes an `Interrupt` frame to the runner for each interrupt asked while the cell runs
/// (never returns: the cell's answer ends the wait; a failed write is left to the reader).
async fn forward_interrupts(
    mut stdin: Option<&mut pipe::Sender>,
    interrupts: &mut UnboundedReceiver<()>,
) -> std::convert::Infallible {
    let frame = protocol::encode_frame(&ServerFrame::Interrupt).unwrap_or_default();
    loop {
        match (interrupts.recv().await, stdin.as_mut()) {
            (Some(()), Some(stdin)) => {
                if stdin.write_all(&frame).await.is_ok() {
                    let _ = stdin.flush().await;
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
}

/// Reads a cell's frames up to its `CellResult` (and the final `Result` if it ended the
/// session).
async fn exchange(
    proc: &mut pipe::Receiver,
    sink: Option<&OutputSink>,
) -> Result<CellOutcome, LaunchError> {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let cell = loop {
        match read_frame(proc).await? {
            RunnerFrame::Output(chunk) => {
                match chunk.stream {
                    Stream::Stdout => stdout.extend_from_slice(&chunk.data),
                    Stream::Stderr => stderr.extend_from_slice(&chunk.data),
                }
                if let Some(sink) = sink {
                    let _ = sink.send(chunk);
                }
            }
            RunnerFrame::CellResult(cell) => break *cell,
            RunnerFrame::Failed { error } => return Err(LaunchError::Sandbox(error)),
            RunnerFrame::Ready(_) | RunnerFrame::Result(_) | RunnerFrame::FileResult(_) => {
                return Err(LaunchError::Sandbox(
                    "unexpected frame during a cell".into(),
                ))
            }
        }
    };
    let ended = if cell.session_ended {
        Some(final_status(proc).await?)
    } else {
        None
    };
    Ok(CellOutcome {
        cell,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        ended,
    })
}

/// Reads a file operation's `FileResult` (and the final `Result` if it ended the session).
async fn file_exchange(proc: &mut RunnerProc) -> Result<FileOutcome, LaunchError> {
    let file = match proc.next_frame().await? {
        RunnerFrame::FileResult(file) => *file,
        RunnerFrame::Failed { error } => return Err(LaunchError::Sandbox(error)),
        _ => {
            let what = "unexpected frame during a file operation".to_string();
            return Err(LaunchError::Sandbox(what));
        }
    };
    let ended = if file.session_ended {
        Some(final_status(proc.pipes().1).await?)
    } else {
        None
    };
    Ok(FileOutcome { file, ended })
}

/// The `Result` frame a runner sends after the kernel ended.
async fn final_status(proc: &mut (impl AsyncRead + Unpin)) -> Result<JobResult, LaunchError> {
    match read_frame(proc).await? {
        RunnerFrame::Result(r) => Ok(*r),
        RunnerFrame::Failed { error } => Err(LaunchError::Sandbox(error)),
        _ => Err(LaunchError::Sandbox(
            "no status after the session ended".into(),
        )),
    }
}
