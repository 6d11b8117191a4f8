//! The launcher's runner spawner ([`pyth_on_sandbox::spawner`]): one long-lived
//! `pyth-on-runner spawner`, started in the background with the launcher, that forks each
//! run's runner instead of the launcher exec'ing a new one (about 0.6 ms of CPU less per run,
//! docs/PERFORMANCE.md). Runners are exec'd as before while it starts; a spawner that fails a
//! request is killed, that run's runner is exec'd, and the next start is tried
//! [`RETRY_AFTER`] later. With [`LauncherConfig::spawner`](crate::LauncherConfig) off every
//! runner is exec'd.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyth_on_sandbox::spawner::{self, Spawned};
use tokio::process::{Child, Command};

/// How long after a failed start or request the next start is tried.
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// How long a spawner may take to say it serves.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// Starts runners: through the spawner when one serves, else by exec.
#[derive(Debug)]
pub(crate) struct Runners {
    /// The runner binary.
    pub(crate) path: PathBuf,
    enabled: bool,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    live: Option<Live>,
    starting: bool,
    /// Set by [`Runners::stop`]: no spawner is started again.
    stopped: bool,
    failed_at: Option<Instant>,
    /// Spawners started so far (for tests).
    started: u64,
}

/// A serving spawner: dropping it closes the control socket (it exits) and kills it.
#[derive(Debug)]
struct Live {
    control: OwnedFd,
    child: Child,
}

impl Runners {
    pub(crate) fn new(path: PathBuf, enabled: bool) -> Self {
        Self {
            path,
            enabled,
            state: Arc::default(),
        }
    }

    /// A runner forked by the spawner; `None` when the spawner is off, not serving yet (it is
    /// then started in the background), backing off after a failure, or failed just now
    /// (logged): exec one then.
    ///
    /// The request blocks the calling thread for the fork (well under a millisecond; at most
    /// the answer deadline of [`spawner::request`] if the spawner hangs, which then gives it up).
    pub(crate) fn fork(&self) -> Option<Spawned> {
        if !self.enabled {
            return None;
        }
        let mut state = lock(&self.state);
        let Some(live) = state.live.as_ref() else {
            self.start_in_background(&mut state);
            return None;
        };
        match spawner::request(live.control.as_fd()) {
            Ok(spawned) => Some(spawned),
            Err(e) => {
                state.live = None;
                state.failed_at = Some(Instant::now());
                tracing::warn!(error = %e, "the runner spawner failed; runners are exec'd");
                None
            }
        }
    }

    /// Starts the spawner in the background, unless it is off, serving, starting, backing off
    /// after a failure, or there is no runtime to start it on.
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
            match started {
                Ok(Ok(live)) if !state.stopped => {
                    state.started += 1;
                    state.live = Some(live);
                }
                Ok(Ok(_)) => {} // stopped meanwhile: dropped (killed) here
                Ok(Err(e)) => {
                    state.failed_at = Some(Instant::now());
                    tracing::warn!(error = %e, "the runner spawner could not start; runners are exec'd");
                }
                Err(_) => {
                    state.failed_at = Some(Instant::now());
                    tracing::warn!("the runner spawner did not start in time; runners are exec'd");
                }
            }
        });
    }

    /// Ends the spawner for good (the launcher shuts down): it is killed, runners are exec'd.
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
        lock(&self.state).live.as_ref().and_then(|l| l.child.id())
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts `pyth-on-runner spawner` on a new control socket; returns once it serves.
async fn start(runner: &Path) -> Result<Live, String> {
    let (control, theirs) = spawner::control_pair().map_err(|e| e.to_string())?;
    let child = Command::new(runner)
        .arg(spawner::SPAWNER_ARG)
        .env_clear()
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", runner.display()))?;
    let ready =
        tokio::task::spawn_blocking(move || spawner::wait_ready(control.as_fd()).map(|()| control));
    let control = ready
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(Live { control, child })
}
