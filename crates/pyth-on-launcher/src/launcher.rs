//! Spawning one `pyth-on-runner` per run and speaking the frame protocol to it.
//!
//! The server never forks inside its multi-threaded runtime: every run is a fresh runner
//! process (argument array, empty environment, `kill_on_drop`), which isolates itself and the
//! user's code (see `pyth_on_sandbox`). The launcher adds a concurrency bound and an outer
//! backstop timer (job timeout + margin) that kills the runner if it ever hangs; the runner's
//! init has `PDEATHSIG=SIGKILL`, so killing the runner takes the whole run down with it. With
//! [`LauncherConfig::pool`] on, runs take a prepared runner from the warm pool
//! ([`crate::pool`]) when one is ready and the cold path otherwise.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyth_on_sandbox::protocol::{
    FrameError, JobResult, JobSpec, Language, Limits, RunnerFrame, SandboxOptions, ServerFrame,
};
use tokio::sync::Semaphore;

use crate::fork_server::{ForkServerConfig, ForkServers};
use crate::ids::IdPool;
pub use crate::job::{Job, LaunchError, RunOutput, ZkJob};
use crate::pool::{self, Pool, PoolConfig, PoolStats, Refill};
pub use crate::runner::read_frame;
use crate::runner::{OutputSink, RunnerProc};
use crate::runtimes::Runtimes;
use crate::session::{Session, SessionConfig};
use crate::spawner::Runners;
use pyth_on_sandbox::netns::{NetnsPool, NetnsStats};

/// Name of the runner binary.
pub const RUNNER_NAME: &str = "pyth-on-runner";

/// Launcher settings.
#[derive(Debug, Clone)]
pub struct LauncherConfig {
    /// The runner binary; `None` = next to the current executable (see [`locate_runner`]).
    pub runner_path: Option<PathBuf>,
    /// Detected interpreters.
    pub runtimes: Runtimes,
    /// Runs allowed at once; further calls wait for a slot.
    pub max_concurrency: usize,
    /// Limits not set by the job (pids, CPU, tmpfs, rlimits) and the defaults for the rest.
    pub limits: Limits,
    /// uid/gid, cgroup parent name, hostname, loopback.
    pub sandbox: SandboxOptions,
    /// Extra time past the job's timeout before the launcher kills the runner itself.
    pub backstop_margin: Duration,
    /// The warm pool (off by default).
    pub pool: PoolConfig,
    /// Per-run identities: each sandbox runs as its own uid (= gid) leased from
    /// `start..start + count` ([`crate::ids`]); `None`: every run as `sandbox.uid`.
    pub identities: Option<(u32, u32)>,
    /// The Python fork server ([`crate::fork_server`]; on by default).
    pub fork_server: ForkServerConfig,
    /// Fork each runner from the runner spawner ([`crate::spawner`]) instead of exec'ing it
    /// (on by default).
    pub spawner: bool,
    /// Lease runs network namespaces made ahead of time, reused when a run left no trace in
    /// them (`pyth_on_sandbox::netns`; on by default). Off: each run's init clones a new one.
    pub reuse_netns: bool,
}

impl LauncherConfig {
    /// Defaults for everything but the runtimes.
    pub fn new(runtimes: Runtimes) -> Self {
        Self {
            runner_path: None,
            runtimes,
            max_concurrency: pyth_on_sandbox::cpus::available().map_or(2, |n| n.get() * 2),
            limits: Limits::default(),
            sandbox: SandboxOptions::default(),
            backstop_margin: Duration::from_secs(5),
            pool: PoolConfig::default(),
            identities: None,
            fork_server: ForkServerConfig::default(),
            spawner: true,
            reuse_netns: true,
        }
    }
}

/// Spawns runners; cheap to share (`Arc` inside).
#[derive(Debug, Clone)]
pub struct Launcher {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) runners: Runners,
    pub(crate) cfg: LauncherConfig,
    /// Runs executing at once: a run's slot is held until its result (or its failure).
    pub(crate) slots: Arc<Semaphore>,
    /// Sandboxes of runs alive at once: a run's permit is held until its sandbox is torn down
    /// (twice the slots: as many runs may be tearing down as are executing).
    pub(crate) sandboxes: Arc<Semaphore>,
    pub(crate) pool: Pool,
    /// Per-run uids, when configured.
    pub(crate) ids: Option<IdPool>,
    /// The Python fork server, when on and up.
    pub(crate) fork_servers: Arc<ForkServers>,
    /// Network namespaces to lease, when on (and root).
    pub(crate) netns: Option<NetnsPool>,
    /// Runs in progress (for `shutdown`).
    active: AtomicUsize,
    closed: AtomicBool,
}

/// Finds the runner: `configured` if given, else `pyth-on-runner` next to the current
/// executable or one directory up (test binaries live in `target/<profile>/deps`).
pub fn locate_runner(configured: Option<&Path>) -> Result<PathBuf, LaunchError> {
    if let Some(p) = configured {
        return if p.is_file() {
            Ok(p.to_owned())
        } else {
            Err(LaunchError::RunnerNotFound(p.to_owned()))
        };
    }
    let exe =
        std::env::current_exe().map_err(|_| LaunchError::RunnerNotFound(RUNNER_NAME.into()))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [
        dir.join(RUNNER_NAME),
        dir.parent().unwrap_or(dir).join(RUNNER_NAME),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| LaunchError::RunnerNotFound(candidates[0].clone()))
}

impl Launcher {
    /// Locates the runner and prepares the concurrency bound.
    ///
    /// With the pool on, refilling starts here when called inside a tokio runtime (else at
    /// the first run).
    pub fn new(cfg: LauncherConfig) -> Result<Self, LaunchError> {
        let runner = locate_runner(cfg.runner_path.as_deref())?;
        let slots = Arc::new(Semaphore::new(cfg.max_concurrency.max(1)));
        let sandboxes = Arc::new(Semaphore::new(sandbox_permits(&cfg)));
        let pool = Pool::new(cfg.pool.clone());
        let ids = cfg
            .identities
            .map(|(start, count)| IdPool::new(start, count));
        let netns = if cfg.reuse_netns {
            // Every sandbox permit and every prepared runner may hold one at once.
            let wanted = sandbox_permits(&cfg) + cfg.pool.size_per_language * 2;
            crate::netns::pool(wanted, cfg.sandbox.loopback)
        } else {
            None
        };
        let inner = Arc::new(Inner {
            netns,
            runners: Runners::new(runner, cfg.spawner, cfg.fork_server.max_runs),
            cfg,
            slots,
            sandboxes,
            pool,
            ids,
            fork_servers: Arc::default(),
            active: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        });
        // Starts the fork server in the background (inside a runtime; else at the first run).
        if let Ok(python) = inner.spec_for(&Job::new(Language::Python, String::new())) {
            let _ = inner.fork_server_for(&python);
        }
        inner.runners.warm_up();
        pool::start(&inner);
        Ok(Self { inner })
    }

    /// How the network-namespace pool has fared (`None`: off).
    pub fn netns_stats(&self) -> Option<NetnsStats> {
        self.inner.netns.as_ref().map(NetnsPool::stats)
    }

    /// Runs executing right now (holding an execution slot: until their result), and
    /// sandboxes of runs alive (until their teardown is over).
    pub fn runs_in_progress(&self) -> RunsInProgress {
        let in_use = |s: &Semaphore, total: usize| total.saturating_sub(s.available_permits());
        RunsInProgress {
            executing: in_use(&self.inner.slots, self.inner.cfg.max_concurrency.max(1)),
            sandboxes: in_use(&self.inner.sandboxes, sandbox_permits(&self.inner.cfg)),
        }
    }

    /// Per-run uids leased right now (runs and warm runners whose runner has not exited).
    pub fn identities_in_use(&self) -> usize {
        self.inner.ids.as_ref().map_or(0, IdPool::leased)
    }

    /// Fork servers started so far (0 when off or none could start).
    pub fn fork_servers_started(&self) -> u64 {
        self.inner.fork_servers.started()
    }

    /// Runner spawners started so far (0 when off or none could start).
    pub fn spawners_started(&self) -> u64 {
        self.inner.runners.spawners_started()
    }

    /// The pid of the runner spawner in use, if one serves.
    pub fn spawner_pid(&self) -> Option<u32> {
        self.inner.runners.spawner_pid()
    }

    /// The pid of the fork server in use, if one is up.
    pub fn fork_server_pid(&self) -> Option<i32> {
        self.inner.fork_servers.pid()
    }

    /// Counters of the warm pool, all languages together.
    pub fn pool_stats(&self) -> PoolStats {
        self.inner.pool.stats(None)
    }

    /// Counters of the warm pool; `ready` counts only `language` (the other counters are
    /// totals).
    pub fn pool_stats_for(&self, language: Language) -> PoolStats {
        self.inner.pool.stats(Some(language))
    }

    /// Drains: refuses new runs ([`LaunchError::Closed`]), stops the runner spawner (runners
    /// already forked go on), retires every prepared runner
    /// (each tears its sandbox and cgroup down), waits for preparations in flight and for the
    /// runs in progress (each bounded by its backstop). Idempotent.
    pub async fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.runners.stop();
        self.inner.pool.drain().await;
        while self.inner.active.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Every sandbox permit back: no runner that answered is still tearing its sandbox down.
        let permits = u32::try_from(sandbox_permits(&self.inner.cfg)).unwrap_or(u32::MAX);
        let _ = self.inner.sandboxes.acquire_many(permits).await;
    }

    /// The runtimes this launcher serves.
    pub fn runtimes(&self) -> &Runtimes {
        &self.inner.cfg.runtimes
    }

    /// The runner binary in use.
    pub fn runner_path(&self) -> &Path {
        &self.inner.runners.path
    }

    /// Builds the runner's job description.
    pub fn spec_for(&self, job: &Job) -> Result<JobSpec, LaunchError> {
        self.inner.spec_for(job)
    }

    /// Runs one job: in a prepared runner from the warm pool when one is ready, else in a
    /// fresh one (cold path). Never waits for the pool.
    pub async fn run(&self, job: Job) -> Result<RunOutput, LaunchError> {
        self.run_streamed(job, None).await
    }

    /// [`Launcher::run`], handing each chunk of the program's stdout and stderr to `sink` as
    /// the runner reads it (all of them before this returns). Dropping the returned future
    /// stops the run: its runner is killed and its sandbox torn down.
    pub async fn run_streamed(
        &self,
        job: Job,
        sink: Option<OutputSink>,
    ) -> Result<RunOutput, LaunchError> {
        pool::start(&self.inner);
        let inner = &self.inner;
        if inner.closed.load(Ordering::SeqCst) {
            return Err(LaunchError::Closed);
        }
        let mut spec = self.spec_for(&job)?;
        spec.stream = sink.is_some();
        drop(job); // wipes a ZK password; the spec holds its own (wiped on drop)
        let queued = Instant::now();
        // The slot bounds the runs executing; the sandbox permit, kept until the teardown is
        // over, bounds the sandboxes alive (a run's teardown then overlaps the next run).
        let slot = Arc::clone(&inner.slots)
            .acquire_owned()
            .await
            .map_err(|_| LaunchError::Closed)?;
        let sandbox = Arc::clone(&inner.sandboxes)
            .acquire_owned()
            .await
            .map_err(|_| LaunchError::Closed)?;
        inner.active.fetch_add(1, Ordering::SeqCst);
        let _active = ActiveGuard(inner);
        let queued_ms = queued.elapsed().as_secs_f64() * 1000.0;
        let started = Instant::now();
        let backstop = Duration::from_millis(spec.limits.timeout_ms) + inner.cfg.backstop_margin;
        let (result, warm, runner_pid) = self.exchange(&spec, backstop, sandbox, sink).await;
        drop(slot);
        let runner_ms = started.elapsed().as_secs_f64() * 1000.0;
        pool::refill_later(inner, spec.language);
        match &result {
            Ok(r) => tracing::debug!(
                language = ?spec.language,
                warm,
                exit_code = r.exit_code,
                timed_out = r.timed_out,
                memory_exceeded = r.memory_exceeded,
                output_truncated = r.output_truncated,
                setup_ms = r.timings.setup_ms,
                runner_ms,
                "run finished"
            ),
            Err(e) => {
                tracing::warn!(language = ?spec.language, warm, error = %e, runner_ms, "run failed")
            }
        }
        Ok(RunOutput {
            result: result?,
            queued_ms,
            runner_ms,
            warm,
            runner_pid,
        })
    }

    /// Runs a complete job description in a fresh runner (cold path) **outside the execution
    /// slots**: the caller bounds concurrency itself and hands in the `permit` it holds (any
    /// guard), which is dropped only once the runner has torn its sandbox down. The server's package builds
    /// use this (their own queue, see `pyth_on_server::packages`), so a build never takes a
    /// slot from users' runs. `shutdown` waits for these runs like any other.
    pub async fn run_spec<P: Send + 'static>(
        &self,
        spec: JobSpec,
        permit: P,
    ) -> Result<JobResult, LaunchError> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::SeqCst) {
            return Err(LaunchError::Closed);
        }
        inner.active.fetch_add(1, Ordering::SeqCst);
        let _active = ActiveGuard(inner);
        let backstop = Duration::from_millis(spec.limits.timeout_ms) + inner.cfg.backstop_margin;
        let mut proc = RunnerProc::spawn(&inner.runners).await?;
        match proc.send(&ServerFrame::Job(Box::new(spec))).await {
            Ok(()) | Err(FrameError::Io(_)) => {}
            Err(e) => {
                proc.retire().await;
                return Err(e.into());
            }
        }
        proc.finish(backstop, permit, None).await
    }

    /// Opens a session ([`crate::session`]): a sandbox of its own (own uid, leased for the
    /// session's life) with a live interpreter that runs cells one at a time. Takes no
    /// execution slot (see the module docs of [`crate::session`]).
    pub async fn open_session(&self, cfg: SessionConfig) -> Result<Session, LaunchError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(LaunchError::Closed);
        }
        let mut job = Job::new(cfg.language, String::new());
        job.binds.clone_from(&cfg.binds);
        job.egress.clone_from(&cfg.egress);
        let mut spec = self.inner.spec_for(&job)?;
        crate::session::configure(&mut spec, &cfg);
        let proc = self.inner.spawn_with_identity(&mut spec).await?;
        let margin = self.inner.cfg.backstop_margin;
        crate::session::open(proc, spec, &cfg, margin).await
    }

    /// Cheap health check: the runner starts, finds its cgroup hierarchy and says `Ready`, and
    /// at least one runtime is available. Runs no user code.
    pub async fn self_test(&self) -> Result<(), LaunchError> {
        if self.runtimes().python.is_none() && self.runtimes().javascript.is_none() {
            return Err(LaunchError::Sandbox("no runtime available".into()));
        }
        let mut proc = RunnerProc::spawn(&self.inner.runners).await?;
        let ready = tokio::time::timeout(Duration::from_secs(5), proc.next_frame()).await;
        proc.retire().await; // EOF: the runner exits without a job
        match ready {
            Ok(Ok(RunnerFrame::Ready(_))) => Ok(()),
            Ok(Ok(RunnerFrame::Failed { error })) => Err(LaunchError::Sandbox(error)),
            Ok(Ok(_)) => Err(LaunchError::Sandbox("unexpected frame before Ready".into())),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(LaunchError::Backstop(Duration::from_secs(5))),
        }
    }
}

/// What [`Launcher::runs_in_progress`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunsInProgress {
    /// Runs holding an execution slot (at most `max_concurrency`).
    pub executing: usize,
    /// Runs whose sandbox is not torn down yet, executing ones included (at most twice
    /// `max_concurrency`).
    pub sandboxes: usize,
}

/// Sandboxes alive at once: the execution slots, and as many again tearing down.
fn sandbox_permits(cfg: &LauncherConfig) -> usize {
    cfg.max_concurrency.max(1) * 2
}

/// Counts a run as in progress until dropped.
struct ActiveGuard<'a>(&'a Inner);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Inner {
    /// Spawns a runner and leases the uid its sandbox will run as (written into `spec`).
    pub(crate) async fn spawn_with_identity(
        &self,
        spec: &mut JobSpec,
    ) -> Result<RunnerProc, LaunchError> {
        let lease = match &self.ids {
            Some(ids) => Some(ids.lease().ok_or(LaunchError::NoIdentity)?),
            None => None,
        };
        let mut proc = RunnerProc::spawn(&self.runners).await?;
        if let Some(lease) = lease {
            (spec.sandbox.uid, spec.sandbox.gid) = (lease.id(), lease.id());
            spec.sandbox.kept_cgroup = Some(lease.kept_cgroup());
            proc.identity = Some(lease);
        }
        let wants_netns = spec.egress.is_none() && !spec.session;
        if let Some(lease) = self
            .netns
            .as_ref()
            .filter(|_| wants_netns)
            .and_then(NetnsPool::lease)
        {
            spec.netns = Some(lease.reference());
            proc.netns = Some(lease);
        }
        Ok(proc)
    }

    /// Builds the runner's job description.
    pub(crate) fn spec_for(&self, job: &Job) -> Result<JobSpec, LaunchError> {
        let cfg = &self.cfg;
        crate::job::spec((&cfg.runtimes, &cfg.limits, &cfg.sandbox), job)
    }
}

impl Refill for Inner {
    fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Languages with a detected runtime.
    fn languages(&self) -> Vec<Language> {
        [Language::Python, Language::Javascript]
            .into_iter()
            .filter(|l| self.cfg.runtimes.get(*l).is_some())
            .collect()
    }

    async fn spawn_blank(&self, language: Language) -> Result<(RunnerProc, JobSpec), LaunchError> {
        let mut profile = self.spec_for(&Job::new(language, String::new()))?;
        profile.prestart = self.pool.cfg.prestart;
        if let Some(server) = self.fork_server_for(&profile) {
            profile.prestart = true;
            profile.fork_server = Some(server);
        }
        let mut proc = self.spawn_with_identity(&mut profile).await?;
        proc.fork_server.clone_from(&profile.fork_server);
        Ok((proc, profile))
    }
}
