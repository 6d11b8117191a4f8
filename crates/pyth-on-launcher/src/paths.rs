//! Which way a job can take besides the cold path: a pre-started interpreter from the warm
//! pool, an interpreter forked by the fork server ([`crate::fork_server`]).

use pyth_on_sandbox::protocol::{ForkServerRef, JobSpec, Language};

use crate::launcher::Inner;
use crate::pool;

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
            .take_one(&self.runner, interpreter, &self.cfg.fork_server)
    }
}
