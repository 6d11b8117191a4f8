//! Which way a job takes: a prepared runner from the warm pool, a fresh runner whose payload
//! the fork server forks ([`crate::fork_server`]), or a fresh runner that starts its own
//! interpreter (the cold path), and the fallbacks between them.

use std::sync::Arc;
use std::time::Duration;

use pyth_on_sandbox::protocol::{
    ForkServerRef, FrameError, JobResult, JobSpec, Language, ServerFrame,
};
use tokio::sync::OwnedSemaphorePermit;

use crate::job::LaunchError;
use crate::launcher::{Inner, Launcher};
use crate::pool::{self, Pool};
use crate::runner::OutputSink;

/// Whether an interpreter reads variable `name` while it starts (Python's `PYTHON*`, Node's
/// `NODE_*` and `UV_*`, the locale): a job setting one runs cold, where it takes effect. The
/// server refuses these names for secrets and `env` anyway; this keeps the launcher honest on
/// its own.
pub(crate) fn read_at_startup(name: &str) -> bool {
    ["PYTHON", "NODE_", "UV_", "LC_", "V8_"]
        .iter()
        .any(|p| name.starts_with(p))
        || matches!(name, "LANG" | "LANGUAGE")
}

impl Inner {
    /// Whether a pooled runner can take `spec`: always without pre-started interpreters;
    /// with them, not a ZK job (decryption must finish before the interpreter exists), not a
    /// job with input files (the payload writes them before it execs the interpreter), not a
    /// longer timeout than the profile's (its `RLIMIT_CPU` can only be lowered), not less
    /// memory than [`pool::PRESTART_MIN_MEMORY_MB`], and no variable an interpreter reads
    /// only while it starts ([`read_at_startup`]: it would be ignored by one already running).
    pub(crate) fn fits_prestart(&self, spec: &JobSpec) -> bool {
        let forked = spec.language == Language::Python && self.cfg.fork_server.enabled;
        !(self.pool.cfg.prestart || forked)
            || (spec.zk.is_none()
                && spec.files.is_empty()
                && spec.limits.timeout_ms <= self.cfg.limits.timeout_ms
                && spec.limits.memory_mb >= pool::PRESTART_MIN_MEMORY_MB
                && !spec.env.iter().any(|v| read_at_startup(&v.name)))
    }

    /// The fork server for `spec` ([`crate::fork_server`]), when one is up and the job can
    /// take a forked interpreter: Python, not ZK, no input files, enough memory, no variable
    /// read at start-up other than `PYTHONPATH` (applied by the bootstrap). Counts the run.
    pub(crate) fn fork_server_for(&self, spec: &JobSpec) -> Option<ForkServerRef> {
        let fits = spec.language == Language::Python
            && spec.zk.is_none()
            && spec.files.is_empty()
            && !spec.session
            && spec.limits.memory_mb >= pool::PRESTART_MIN_MEMORY_MB
            && !spec
                .env
                .iter()
                .any(|v| read_at_startup(&v.name) && v.name != "PYTHONPATH");
        if !fits {
            return None;
        }
        let interpreter = self
            .cfg
            .runtimes
            .python
            .as_ref()
            .map(|r| r.interpreter.as_path());
        self.fork_servers
            .take_one(&self.runners.path, interpreter, &self.cfg.fork_server)
    }
}

impl Launcher {
    /// Warm if possible, else cold. A prepared runner that died while idle (the job could not
    /// even be written) is replaced by the cold path.
    pub(crate) async fn exchange(
        &self,
        spec: &JobSpec,
        backstop: Duration,
        slot: OwnedSemaphorePermit,
        sink: Option<OutputSink>,
    ) -> (Result<JobResult, LaunchError>, bool, u32) {
        // A prepared runner's mount tree is fixed before the job: package environments (extra
        // binds) need a runner prepared for this job, the cold path. So does egress (the relay
        // into the run's network namespace is started by the runner that prepares it).
        let warm =
            if spec.binds.is_empty() && spec.egress.is_none() && self.inner.fits_prestart(spec) {
                self.inner.pool.take(spec.language)
            } else {
                None
            };
        let slot = match warm {
            Some(warm) => match self
                .run_warm(warm, spec, backstop, slot, sink.as_ref())
                .await
            {
                Ok(done) => return done,
                Err(slot) => slot,
            },
            None => slot,
        };
        let Some(server) = self.inner.fork_server_for(spec) else {
            return self
                .run_cold(spec.clone(), backstop, slot, sink.as_ref())
                .await;
        };
        let server_pid = server.pid;
        let mut forked = spec.clone();
        forked.prestart = true;
        forked.fork_server = Some(server);
        let (result, warm, pid) = self.run_cold(forked, backstop, slot, sink.as_ref()).await;
        match &result {
            // Refused before anything of the job ran (the fork server died or stalled between
            // being handed out and the request): the run goes on without it.
            Err(LaunchError::Sandbox(e)) if e.contains("fork server:") => {
                tracing::warn!(error = %e, "the fork server failed a run's set-up; running it without");
                self.inner.fork_servers.discard(server_pid);
                match Arc::clone(&self.inner.sandboxes).acquire_owned().await {
                    Ok(slot) => {
                        self.run_cold(spec.clone(), backstop, slot, sink.as_ref())
                            .await
                    }
                    Err(_) => (Err(LaunchError::Closed), false, pid),
                }
            }
            _ => (result, warm, pid),
        }
    }

    /// The job in a fresh runner (the cold path): its sandbox prepared on the request path.
    async fn run_cold(
        &self,
        mut spec: JobSpec,
        backstop: Duration,
        slot: OwnedSemaphorePermit,
        sink: Option<&OutputSink>,
    ) -> (Result<JobResult, LaunchError>, bool, u32) {
        let mut proc = match self.inner.spawn_with_identity(&mut spec).await {
            Ok(p) => p,
            Err(e) => return (Err(e), false, 0),
        };
        let job = ServerFrame::Job(Box::new(spec));
        let pid = proc.pid;
        // The runner reads the job only after sending Ready; the pipe buffers it meanwhile. A
        // write that fails means the runner already closed its input (it died): `finish` then
        // reads its end and reports how it died, rather than a bare broken pipe.
        match proc.send(&job).await {
            Ok(()) => {}
            Err(FrameError::Io(e)) => {
                tracing::debug!(error = %e, "the job could not be written to a fresh runner");
            }
            Err(e) => {
                proc.retire().await;
                return (Err(e.into()), false, pid);
            }
        }
        (proc.finish(backstop, slot, sink).await, false, pid)
    }

    /// The job in a prepared runner from the pool. `Err` hands the slot back when the runner
    /// was gone before it took the job (it died while idle): the caller runs it cold.
    async fn run_warm(
        &self,
        warm: pool::WarmRunner,
        spec: &JobSpec,
        backstop: Duration,
        slot: OwnedSemaphorePermit,
        sink: Option<&OutputSink>,
    ) -> Result<(Result<JobResult, LaunchError>, bool, u32), OwnedSemaphorePermit> {
        let mut spec = spec.clone();
        spec.prestart = self.inner.pool.cfg.prestart || warm.proc.fork_server.is_some();
        spec.fork_server.clone_from(&warm.proc.fork_server);
        spec.netns = warm.proc.netns.as_ref().map(|n| n.reference());
        if let Some(lease) = &warm.proc.identity {
            (spec.sandbox.uid, spec.sandbox.gid) = (lease.id(), lease.id());
            spec.sandbox.kept_cgroup = Some(lease.kept_cgroup());
        }
        let job = ServerFrame::Job(Box::new(spec));
        // Counted in use until done, even if this future is dropped mid-run.
        let _in_use = InUse(&self.inner.pool);
        let mut proc = warm.proc;
        let pid = proc.pid;
        match proc.send(&job).await {
            Ok(()) => Ok((proc.finish(backstop, slot, sink).await, true, pid)),
            Err(e) => {
                tracing::warn!(error = %e, "a prepared runner was gone; running cold");
                proc.retire().await;
                Err(slot)
            }
        }
    }
}

/// Counts a prepared runner as in use until dropped.
struct InUse<'a>(&'a Pool);

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        self.0.done();
    }
}
