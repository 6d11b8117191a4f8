//! The launcher's runner spawner ([`pyth_on_sandbox::spawner`]): one long-lived
//! `pyth-on-runner spawner`, started in the background with the launcher, that forks each
//! run's runner instead of the launcher exec'ing a new one (about 0.6 ms of CPU less per run,
//! docs/PERFORMANCE.md).
//!
//! - Runners are exec'd as before while it starts, and when it is off
//!   ([`LauncherConfig::spawner`](crate::LauncherConfig)).
//! - A request is sent and its answer awaited without blocking a runtime thread, in a task of
//!   its own, so that every answer is read by the request that asked for it (a run that goes
//!   away meanwhile has its runner killed and reaped).
//! - A spawner that does not answer within [`ANSWER_DEADLINE`], or answers wrongly, is killed;
//!   that run's runner is exec'd, the answers it still sends are read until it is gone (their
//!   runners killed and reaped), and a new one is tried [`RETRY_AFTER`] later.
//! - After `max_runs` runners a fresh spawner replaces it (a new address-space layout for the
//!   runners, and a new binary after an upgrade).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyth_on_sandbox::error::SysError;
use pyth_on_sandbox::spawner::{self, Answer, Requested, SpawnerError};
use tokio::io::unix::AsyncFd;
use tokio::process::{Child, Command};

use crate::process::Forked;

/// How long after a failed start or request the next start is tried.
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// How long a spawner may take to say it serves.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// How long a request waits for its answer (a fork takes well under a millisecond).
const ANSWER_DEADLINE: Duration = Duration::from_secs(2);

/// Starts runners: through the spawner when one serves, else by exec.
#[derive(Debug)]
pub(crate) struct Runners {
    /// The runner binary.
    pub(crate) path: PathBuf,
    enabled: bool,
    max_runs: u64,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    live: Option<Arc<Live>>,
    starting: bool,
    /// Set by [`Runners::stop`]: no spawner is started again.
    stopped: bool,
    failed_at: Option<Instant>,
    /// Spawners started so far (for tests).
    started: u64,
}

/// A serving spawner. Dropped with its last request: the control socket closes (it exits)
/// and it is killed.
#[derive(Debug)]
struct Live {
    /// One request at a time: answers come in the order of the requests.
    control: tokio::sync::Mutex<AsyncFd<OwnedFd>>,
    child: Mutex<Child>,
    pid: Option<u32>,
    runs: std::sync::atomic::AtomicU64,
}

impl Runners {
    /// Runners of `path`; forked by a spawner when `enabled`, each spawner replaced after
    /// `max_runs` runners.
    pub(crate) fn new(path: PathBuf, enabled: bool, max_runs: u64) -> Self {
        Self {
            path,
            enabled,
            max_runs: max_runs.max(1),
            state: Arc::default(),
        }
    }

    /// A runner forked by the spawner and the launcher's ends of its pipes; `None` when the
    /// spawner is off, not serving yet (it is then started in the background), backing off
    /// after a failure, or failed just now (logged): exec one then.
    pub(crate) async fn fork(&self) -> Option<(Forked, Requested)> {
        if !self.enabled {
            return None;
        }
        let live = {
            let mut state = lock(&self.state);
            match state.live.as_ref() {
                Some(live) => Arc::clone(live),
                None => {
                    self.start_in_background(&mut state);
                    return None;
                }
            }
        };
        let served = live.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if served >= self.max_runs {
            self.replace(&live);
        }
        // Detached if this run gives up waiting: the task still reads the answer it is owed.
        let task = tokio::spawn(request(Arc::clone(&live)));
        let why = match tokio::time::timeout(ANSWER_DEADLINE, task).await {
            Ok(Ok(Ok(forked))) => return Some(forked),
            Ok(Ok(Err(why))) => why,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {ANSWER_DEADLINE:?}"),
        };
        self.give_up(&live, &why);
        None
    }

    /// Starts the spawner in the background, unless it is off, serving, starting, stopped,
    /// backing off after a failure, or there is no runtime to start it on.
    pub(crate) fn warm_up(&self) {
        if self.enabled {
            self.start_in_background(&mut lock(&self.state));
        }
    }

    fn start_in_background(&self, state: &mut State) {
        let backing_off = state.failed_at.is_some_and(|t| t.elapsed() < RETRY_AFTER);
        if state.live.is_some() || state.starting || state.stopped || backing_off {
            return;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        state.starting = true;
        let (shared, path) = (Arc::clone(&self.state), self.path.clone());
        // On a runtime worker, which lives as long as the runtime: the spawner's parent thread,
        // whose end would send it and every runner it forked SIGKILL (`PR_SET_PDEATHSIG`).
        tokio::spawn(async move {
            let started = tokio::time::timeout(START_DEADLINE, start(&path)).await;
            let mut state = lock(&shared);
            state.starting = false;
            let error = match started {
                Ok(Ok(_)) if state.stopped => return, // dropped (killed) here
                Ok(Ok(live)) => {
                    state.started += 1;
                    state.live = Some(Arc::new(live));
                    return;
                }
                Ok(Err(e)) => e,
                Err(_) => "it did not say it serves in time".into(),
            };
            state.failed_at = Some(Instant::now());
            tracing::warn!(%error, "the runner spawner could not start; runners are exec'd");
        });
    }

    /// `live` served its share: the next run starts a fresh spawner (this one serves the
    /// requests already under way, then goes with them).
    fn replace(&self, live: &Arc<Live>) {
        let mut state = lock(&self.state);
        if state.live.as_ref().is_some_and(|l| Arc::ptr_eq(l, live)) {
            state.live = None;
            self.start_in_background(&mut state);
        }
    }

    /// `live` failed a request: killed, and not used again; the next start waits.
    fn give_up(&self, live: &Arc<Live>, why: &str) {
        let mut state = lock(&self.state);
        if state.live.as_ref().is_some_and(|l| Arc::ptr_eq(l, live)) {
            state.live = None;
            state.failed_at = Some(Instant::now());
        }
        drop(state);
        let _ = live.child.lock().map(|mut c| c.start_kill());
        tracing::warn!(error = %why, "the runner spawner failed; runners are exec'd");
    }

    /// Ends the spawner for good (the launcher shuts down): runners are exec'd from now on.
    pub(crate) fn stop(&self) {
        let mut state = lock(&self.state);
        state.stopped = true;
        state.live = None;
    }

    /// Spawners started so far.
    pub(crate) fn spawners_started(&self) -> u64 {
        lock(&self.state).started
    }

    /// The pid of the spawner in use, if one serves.
    pub(crate) fn spawner_pid(&self) -> Option<u32> {
        lock(&self.state).live.as_ref().and_then(|l| l.pid)
    }
}

fn lock<T>(state: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One request to `live`, answered within [`ANSWER_DEADLINE`]. On a timeout the spawner is
/// killed here and its later answers are still read, until it is gone, so that no runner it
/// forked is left unknown (each is killed and reaped).
async fn request(live: Arc<Live>) -> Result<(Forked, Requested), String> {
    let control = live.control.lock().await;
    let requested = spawner::send_request(control.get_ref().as_fd()).map_err(|e| e.to_string())?;
    let answer = match tokio::time::timeout(ANSWER_DEADLINE, next_answer(&control)).await {
        Ok(answer) => answer.map_err(|e| e.to_string())?,
        Err(_) => {
            let _ = lock(&live.child).start_kill();
            while let Ok(Answer::Spawned { pid, pidfd }) = next_answer(&control).await {
                drop(Forked::adopt(pid, pidfd)); // killed and reaped
            }
            return Err(format!("no answer within {ANSWER_DEADLINE:?}"));
        }
    };
    match answer {
        Answer::Spawned { pid, pidfd } => Ok((Forked::adopt(pid, pidfd)?, requested)),
        Answer::Ready => Err("it said `ready` again".into()),
    }
}

/// The next answer on `control`.
async fn next_answer(control: &AsyncFd<OwnedFd>) -> Result<Answer, SpawnerError> {
    loop {
        let mut ready = control.readable().await.map_err(|e| {
            SpawnerError::Sys(SysError::from_io("epoll", "control socket".into(), e))
        })?;
        match spawner::read_answer(control.get_ref().as_fd())? {
            Some(answer) => return Ok(answer),
            None => ready.clear_ready(),
        }
    }
}

/// Starts `pyth-on-runner spawner` on a new control socket; returns once it serves.
async fn start(runner: &Path) -> Result<Live, String> {
    let (control, theirs) = spawner::control_pair().map_err(|e| e.to_string())?;
    let child = crate::process::spawn_runner(
        Command::new(runner)
            .arg(spawner::SPAWNER_ARG)
            .env_clear()
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true),
    )
    .map_err(|e| format!("spawning {}: {e}", runner.display()))?;
    let control = crate::process::watch(control).map_err(|e| e.to_string())?;
    match next_answer(&control).await.map_err(|e| e.to_string())? {
        Answer::Ready => Ok(Live {
            control: tokio::sync::Mutex::new(control),
            pid: child.id(),
            child: Mutex::new(child),
            runs: std::sync::atomic::AtomicU64::new(0),
        }),
        Answer::Spawned { pid, pidfd } => {
            drop(Forked::adopt(pid, pidfd)); // killed and reaped
            Err("it answered a request nobody sent".into())
        }
    }
}
