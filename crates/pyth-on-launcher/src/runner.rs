//! One `pyth-on-runner` process seen from the async side: start it (forked by the spawner, or
//! exec'd with an argument array, an empty environment and `kill_on_drop`), send frames, read
//! frames, collect its result under a backstop timer, or retire it.

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::Duration;

use pyth_on_sandbox::protocol::{
    self, FrameError, JobResult, OutputChunk, RunnerFrame, ServerFrame,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::process::Command;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::ids::IdLease;
use crate::job::LaunchError;
use crate::process::Process;
use crate::spawner::Runners;
use pyth_on_sandbox::netns::NetnsLease;

/// Where a streamed run's output chunks go as they arrive (unbounded: the runner caps each
/// stream at the job's output limit, so at most twice that is ever queued).
pub type OutputSink = tokio::sync::mpsc::UnboundedSender<OutputChunk>;

/// How long a runner may take to exit once its input is closed, before it is killed.
const RETIRE_GRACE: Duration = Duration::from_secs(5);

/// A spawned runner and the launcher's ends of its pipes.
///
/// What a run holds for its sandbox (its uid lease, its sandbox permit) is released only once the runner
/// has exited, also when the run is abandoned half-way (its future dropped because the client
/// went away): dropping a live `RunnerProc` kills the runner and hands both to a task that
/// waits until the process is gone.
#[derive(Debug)]
pub(crate) struct RunnerProc {
    child: Process,
    stdin: Option<pipe::Sender>,
    stdout: pipe::Receiver,
    stderr: JoinHandle<String>,
    /// Host pid of the runner.
    pub(crate) pid: u32,
    /// The uid its sandbox runs as, held until the runner has exited.
    pub(crate) identity: Option<IdLease>,
    /// The caller's permit for this run (see [`RunnerProc::finish`]), held likewise.
    held: Option<Held>,
    /// The fork server its prepared sandbox took the payload from (a pooled runner).
    pub(crate) fork_server: Option<pyth_on_sandbox::protocol::ForkServerRef>,
    /// The network namespace leased to its sandbox: given back only after a clean teardown,
    /// destroyed otherwise.
    pub(crate) netns: Option<NetnsLease>,
}

/// Anything a run holds until its runner has exited (a sandbox permit or a build slot).
struct Held(#[allow(dead_code, reason = "held for its Drop")] Box<dyn std::any::Any + Send>);

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held")
    }
}

impl RunnerProc {
    /// Starts a runner: forked by the spawner when it serves, else exec'd with an empty
    /// environment.
    pub(crate) async fn spawn(runners: &Runners) -> Result<Self, LaunchError> {
        let spawn_error = |source| LaunchError::Spawn {
            path: runners.path.clone(),
            source,
        };
        let (child, stdin, stdout, stderr) = match runners.fork().await {
            Some((forked, pipes)) => (
                Process::Forked(forked),
                pipes.stdin,
                pipes.stdout,
                pipes.stderr,
            ),
            None => exec(&runners.path).map_err(spawn_error)?,
        };
        let stdin = pipe::Sender::from_owned_fd(stdin).map_err(spawn_error)?;
        let stdout = pipe::Receiver::from_owned_fd(stdout).map_err(spawn_error)?;
        let stderr = pipe::Receiver::from_owned_fd(stderr).map_err(spawn_error)?;
        Ok(Self {
            pid: child.id(),
            child,
            stdin: Some(stdin),
            stdout,
            stderr: tokio::spawn(read_capped(stderr, 16 << 10)),
            identity: None,
            held: None,
            fork_server: None,
            netns: None,
        })
    }

    /// Writes one frame. A job frame may carry a ZK password: the bytes are wiped once written.
    pub(crate) async fn send(&mut self, frame: &ServerFrame) -> Result<(), FrameError> {
        let bytes = Zeroizing::new(protocol::encode_frame(frame)?);
        let stdin = self.stdin.as_mut().ok_or(FrameError::Closed)?;
        stdin.write_all(&bytes).await?;
        stdin.flush().await?;
        Ok(())
    }

    /// The runner's stdin (`None` once closed) and stdout apart: to write a frame while a read
    /// is under way (a session's interrupt during its cell).
    pub(crate) fn pipes(&mut self) -> (Option<&mut pipe::Sender>, &mut pipe::Receiver) {
        (self.stdin.as_mut(), &mut self.stdout)
    }

    /// Closes the runner's stdin (after the job, or to retire a prepared runner).
    pub(crate) fn close_input(&mut self) {
        self.stdin = None;
    }

    /// Reads the next frame.
    pub(crate) async fn next_frame(&mut self) -> Result<RunnerFrame, LaunchError> {
        read_frame(&mut self.stdout).await
    }

    /// Reads frames until the result, handing output chunks to `sink` as they come; kills the
    /// runner if it takes longer than `backstop`.
    /// The runner sends its result before it tears the sandbox down; that teardown is awaited
    /// in the background, holding `slot` (the run's sandbox permit, or a build's slot) until
    /// the runner exited (so the sandboxes alive stay bounded, and `shutdown`, which waits
    /// for every permit, waits for it too); a runner that fails it is logged.
    pub(crate) async fn finish<S: Send + 'static>(
        mut self,
        backstop: Duration,
        slot: S,
        sink: Option<&OutputSink>,
    ) -> Result<JobResult, LaunchError> {
        self.held = Some(Held(Box::new(slot)));
        self.close_input();
        let outcome = tokio::time::timeout(backstop, async {
            loop {
                match self.next_frame().await? {
                    RunnerFrame::Ready(_) => continue,
                    RunnerFrame::Output(chunk) => {
                        // A receiver that went away (the client left) stops nothing here:
                        // dropping the run's future is what ends the run.
                        if let Some(sink) = sink {
                            let _ = sink.send(chunk);
                        }
                    }
                    RunnerFrame::Result(r) => return Ok(*r),
                    RunnerFrame::Failed { error } => return Err(LaunchError::Sandbox(error)),
                    RunnerFrame::CellResult(_) | RunnerFrame::FileResult(_) => {
                        let what = "a session's answer for a job".to_string();
                        return Err(LaunchError::Sandbox(what));
                    }
                }
            }
        })
        .await;
        let outcome = match outcome {
            Ok(r) => r,
            Err(_) => {
                self.child.kill().await;
                wait_gone(self.pid, self.identity.as_ref().map(IdLease::id)).await;
                self.release();
                return Err(LaunchError::Backstop(backstop));
            }
        };
        match outcome {
            Ok(result) => {
                tokio::spawn(self.await_teardown());
                Ok(result)
            }
            Err(LaunchError::Protocol(FrameError::Closed | FrameError::Io(_))) => {
                let status = match tokio::time::timeout(RETIRE_GRACE, self.child.wait()).await {
                    Ok(Ok(s)) => s.to_string(),
                    _ => "unknown".into(),
                };
                let stderr = (&mut self.stderr).await.unwrap_or_default();
                self.release();
                Err(LaunchError::RunnerDied { status, stderr })
            }
            Err(e) => Err(e),
        }
    }

    /// After the result: waits for the runner's teardown (killing it past a grace period,
    /// logged), then releases what the run held.
    async fn await_teardown(mut self) {
        let status = tokio::time::timeout(RETIRE_GRACE, self.child.wait()).await;
        let clean = matches!(&status, Ok(Ok(s)) if s.success());
        if clean {
            // Init reaped, the cgroup empty and removed: nothing of the run is left in it.
            if let Some(netns) = self.netns.take() {
                netns.give_back();
            }
        } else {
            self.child.kill().await;
            let stderr = (&mut self.stderr).await.unwrap_or_default();
            tracing::warn!(
                runner.pid = self.pid,
                status = ?status,
                stderr = %stderr.trim(),
                "a runner did not tear its sandbox down cleanly after its result"
            );
        }
        self.release();
    }

    /// Releases the uid lease and the slot (the runner has exited); a network namespace not
    /// given back is destroyed.
    fn release(&mut self) {
        self.held = None;
        self.identity = None;
        self.netns = None;
    }

    /// Ends a runner that will not get a job: EOF on its stdin makes it tear its sandbox down
    /// (kill, cgroup removed) and exit; SIGKILL if it has not exited within a grace period.
    pub(crate) async fn retire(mut self) {
        self.close_input();
        if tokio::time::timeout(RETIRE_GRACE, self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await;
        }
        self.release();
    }
}

impl Drop for RunnerProc {
    /// An abandoned runner (its run's future dropped): SIGKILL now, and the lease and slot go
    /// back only once the runner and every process of its sandbox are gone (at most
    /// [`RETIRE_GRACE`] later).
    fn drop(&mut self) {
        let (identity, held) = (self.identity.take(), self.held.take());
        if identity.is_none() && held.is_none() {
            return;
        }
        self.child.start_kill();
        let (pid, uid) = (self.pid, identity.as_ref().map(IdLease::id));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            wait_gone(pid, uid).await;
            drop((identity, held));
        });
    }
}

/// Waits, at most [`RETIRE_GRACE`], until the runner `pid` is gone and no process runs as
/// `uid` any more (a killed runner's sandbox dies just after it: its init has
/// `PR_SET_PDEATHSIG`, and the kernel then kills the whole PID namespace).
async fn wait_gone(pid: u32, uid: Option<u32>) {
    let gone = async {
        while std::path::Path::new(&format!("/proc/{pid}")).exists() || uid_busy(uid).await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let _ = tokio::time::timeout(RETIRE_GRACE, gone).await;
}

/// Whether any host process has real uid `uid`, scanned on a blocking thread (every process's
/// `status`: a few milliseconds that would hold up every request on the async threads).
async fn uid_busy(uid: Option<u32>) -> bool {
    let Some(uid) = uid else {
        return false;
    };
    tokio::task::spawn_blocking(move || uid_has_processes(uid))
        .await
        .unwrap_or(false)
}

/// Whether any host process has real uid `uid` (a scan of `/proc`).
fn uid_has_processes(uid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .any(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|u| u.parse::<u32>().ok())
                == Some(uid)
        })
}

/// Execs a runner with an empty environment on new pipes: the process and the launcher's ends
/// of its stdin, stdout and stderr.
fn exec(path: &std::path::Path) -> std::io::Result<(Process, OwnedFd, OwnedFd, OwnedFd)> {
    let (stdin_r, stdin) = std::io::pipe()?;
    let (stdout, stdout_w) = std::io::pipe()?;
    let (stderr, stderr_w) = std::io::pipe()?;
    let child = crate::process::spawn_runner(
        Command::new(path)
            .env_clear()
            .stdin(Stdio::from(stdin_r))
            .stdout(Stdio::from(stdout_w))
            .stderr(Stdio::from(stderr_w))
            .kill_on_drop(true),
    )?;
    Ok((
        Process::Exec(child),
        stdin.into(),
        stdout.into(),
        stderr.into(),
    ))
}

/// Reads one length-prefixed frame.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<RunnerFrame, LaunchError> {
    let mut prefix = [0u8; 4];
    if let Err(e) = r.read_exact(&mut prefix).await {
        return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Closed.into()
        } else {
            FrameError::Io(e).into()
        });
    }
    let len = protocol::check_frame_len(prefix)?;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await.map_err(FrameError::Io)?;
    Ok(serde_json::from_slice(&buf).map_err(FrameError::Json)?)
}

async fn read_capped<R: AsyncRead + Unpin>(mut r: R, cap: usize) -> String {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = r.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        if out.len() < cap {
            out.extend_from_slice(&chunk[..n.min(cap - out.len())]);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
