//! The launcher's fork server ([`pyth_on_sandbox::fork_server`]): one per launcher, for
//! Python, started in the background at the launcher's start and again whenever it is gone or
//! has served [`ForkServerConfig::max_runs`] runs (a new one draws a new string-hash seed and
//! address-space layout, see docs/SECURITY.md). Runs that find none ready take the
//! interpreter-per-run paths, which stay the fallback: nothing waits for a fork server.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyth_on_sandbox::protocol::{self, ForkServerRef, Language, RunnerFrame, ServerFrame};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// Fork-server settings.
#[derive(Debug, Clone)]
pub struct ForkServerConfig {
    /// Use a fork server for Python runs (else every run starts its own interpreter).
    pub enabled: bool,
    /// Runs a fork server serves before it is replaced by a fresh one (and runners the runner
    /// spawner forks before it is).
    pub max_runs: u64,
}

impl Default for ForkServerConfig {
    /// On, replaced every 1000 runs.
    fn default() -> Self {
        Self {
            enabled: true,
            max_runs: 1000,
        }
    }
}

/// How long a fork server may take to say it listens.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// How long after a failed start the next is tried (runs start their own interpreters
/// meanwhile).
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// How long a replaced fork server still takes requests: runners it was handed to may not
/// have connected yet (a sandbox must be ready within 10 s).
const RETIRE_AFTER: Duration = Duration::from_secs(15);

/// The launcher's fork server, if one is up.
#[derive(Debug, Default)]
pub(crate) struct ForkServers {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    live: Option<Live>,
    starting: bool,
    /// When a start last failed: the next attempt waits [`RETRY_AFTER`].
    failed_at: Option<std::time::Instant>,
    /// Fork servers started so far (for the logs and tests).
    started: u64,
}

/// A running fork server: dropping it closes its stdin, which ends it once every payload it
/// forked has ended (it reports their ends to their sandboxes: killing it would fail the runs
/// in flight and those prepared in the pool).
#[derive(Debug)]
struct Live {
    reference: ForkServerRef,
    child: Child,
    _stdin: ChildStdin,
    runs: u64,
}

impl ForkServers {
    /// The fork server to use for one more Python run, counted; `None` when there is none
    /// ready (one is then started in the background, when `cfg` allows).
    pub(crate) fn take_one(
        self: &Arc<Self>,
        runner: &Path,
        interpreter: Option<&Path>,
        cfg: &ForkServerConfig,
    ) -> Option<ForkServerRef> {
        let interpreter = interpreter.filter(|_| cfg.enabled)?;
        let mut state = self.lock();
        if let Some(live) = state.live.as_mut() {
            if matches!(live.child.try_wait(), Ok(None)) {
                live.runs += 1;
                let reference = live.reference.clone();
                if live.runs >= cfg.max_runs {
                    // Served its share: a fresh one replaces it once it listens (this one
                    // serves on until then).
                    self.start_in_background(
                        &mut state,
                        runner.to_path_buf(),
                        interpreter.to_path_buf(),
                    );
                }
                return Some(reference);
            }
            state.live = None; // it exited
        }
        self.start_in_background(&mut state, runner.to_path_buf(), interpreter.to_path_buf());
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn start_in_background(
        self: &Arc<Self>,
        state: &mut State,
        runner: PathBuf,
        interpreter: PathBuf,
    ) {
        let backing_off = state.failed_at.is_some_and(|t| t.elapsed() < RETRY_AFTER);
        if state.starting || backing_off || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        state.starting = true;
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let started = tokio::time::timeout(START_DEADLINE, start(&runner, interpreter)).await;
            let mut state = this.lock();
            state.starting = false;
            match started {
                Ok(Ok(live)) => {
                    state.started += 1;
                    tracing::debug!(pid = live.reference.pid, "fork server ready");
                    retire(state.live.replace(live));
                }
                Ok(Err(e)) => {
                    state.failed_at = Some(std::time::Instant::now());
                    tracing::warn!(error = %e, "the fork server could not start; Python runs start their own interpreters");
                }
                Err(_) => {
                    state.failed_at = Some(std::time::Instant::now());
                    tracing::warn!("the fork server did not start in time");
                }
            }
        });
    }

    /// Fork servers started so far.
    pub(crate) fn started(&self) -> u64 {
        self.lock().started
    }

    /// Gives up on the fork server `pid` (a request to it failed): it is killed (its runs in
    /// flight end as killed; it was failing anyway) and the next run starts a fresh one.
    pub(crate) fn discard(&self, pid: i32) {
        let mut state = self.lock();
        if state.live.as_ref().is_some_and(|l| l.reference.pid == pid) {
            if let Some(mut live) = state.live.take() {
                let _ = live.child.start_kill();
            }
        }
    }

    /// The pid of the fork server in use, if one is up.
    pub(crate) fn pid(&self) -> Option<i32> {
        self.lock().live.as_ref().map(|l| l.reference.pid)
    }
}

/// Closes a replaced fork server's stdin after [`RETIRE_AFTER`] (at once outside a runtime);
/// it then ends once the payloads it forked have ended.
fn retire(live: Option<Live>) {
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::spawn(async move {
            tokio::time::sleep(RETIRE_AFTER).await;
            drop(live);
        });
    }
}

/// Spawns a runner and makes it a fork server; returns once it listens.
async fn start(runner: &Path, interpreter: PathBuf) -> Result<Live, String> {
    let mut child = crate::process::spawn_runner(
        Command::new(runner)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(false),
    )
    .map_err(|e| format!("spawning {}: {e}", runner.display()))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err("no pipes".into());
    };
    let mut out = BufReader::new(stdout);
    match crate::runner::read_frame(&mut out).await {
        Ok(RunnerFrame::Ready(_)) => {}
        Ok(RunnerFrame::Failed { error }) => return Err(error),
        other => return Err(format!("unexpected first frame: {other:?}")),
    }
    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .ok_or("no pid")?;
    // Unguessable (74 random bits), so that no other process claims the name first (a
    // runner would refuse it anyway: it checks the pid and uid of the socket's other end).
    let socket = format!(
        "pyth-on-fork-server-{pid}-{}",
        uuid::Uuid::now_v7().simple()
    );
    let frame = ServerFrame::ForkServer(protocol::ForkServerConfig {
        language: Language::Python,
        interpreter: interpreter.clone(),
        socket: socket.clone(),
    });
    let bytes = protocol::encode_frame(&frame).map_err(|e| e.to_string())?;
    stdin.write_all(&bytes).await.map_err(|e| e.to_string())?;
    ready(&mut out, &mut child, pid).await?;
    Ok(Live {
        reference: ForkServerRef {
            socket,
            pid,
            interpreter,
        },
        child,
        _stdin: stdin,
        runs: 0,
    })
}

/// Waits for the fork server's `ready PID` line. A runner that could not exec the fork server
/// says why in a frame instead; a fork server that exited says it on stderr (the server's
/// log): then at least that it exited.
async fn ready(
    out: &mut BufReader<tokio::process::ChildStdout>,
    child: &mut Child,
    pid: i32,
) -> Result<(), String> {
    let mut answer = Vec::new();
    out.read_until(b'\n', &mut answer)
        .await
        .map_err(|e| e.to_string())?;
    if answer == format!("ready {pid}\n").as_bytes() {
        return Ok(());
    }
    let rest = tokio::time::timeout(Duration::from_secs(2), out.read_to_end(&mut answer));
    let _ = rest.await;
    if let Ok(RunnerFrame::Failed { error }) = crate::runner::read_frame(&mut &answer[..]).await {
        return Err(error);
    }
    let exit = child.wait().await.map_err(|e| e.to_string())?;
    let said = String::from_utf8_lossy(&answer);
    Err(format!("the fork server said {said:?} and exited ({exit})"))
}
