//! The rlimits of a payload, the same for a Rust payload (`child.rs`) and a forked one
//! (`fork_server/payload.rs`).

/// `RLIMIT_CPU` (soft; the hard limit is one more) for a job with this wall-clock limit: the
/// supervisor's wall-clock kill comes first, this only backs it up.
pub(crate) fn cpu_limit_secs(timeout_ms: u64) -> u64 {
    timeout_ms / 1000 + 2
}

/// Sets the calling process's `RLIMIT_CPU` to `cpu_secs` (soft: `SIGXCPU`), the hard limit one
/// more (`SIGKILL`).
pub(crate) fn set_cpu_limit(cpu_secs: u64) -> Result<(), crate::error::SysError> {
    crate::sys::setrlimit(libc::RLIMIT_CPU, cpu_secs, cpu_secs.saturating_add(1))
}

/// Every payload's rlimits but CPU time: open files and file size from the profile, no core
/// dumps, 64 KiB locked, no message queues.
pub(crate) fn payload_rlimits(
    nofile: u64,
    fsize: u64,
) -> [(libc::__rlimit_resource_t, u64, u64); 5] {
    [
        (libc::RLIMIT_NOFILE, nofile, nofile),
        (libc::RLIMIT_FSIZE, fsize, fsize),
        (libc::RLIMIT_CORE, 0, 0),
        (libc::RLIMIT_MEMLOCK, 64 << 10, 64 << 10),
        (libc::RLIMIT_MSGQUEUE, 0, 0),
    ]
}
