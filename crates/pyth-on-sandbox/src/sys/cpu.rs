//! Moving the calling thread from CPU to CPU: what the network-namespace pool needs to make
//! each CPU's copy of a route before it records a new namespace ([`crate::netns`]). Part of
//! [`crate::sys`], under the same rules.

use super::{check, Result};

/// Runs `f` once on each configured CPU this thread may be moved to (`sched_setaffinity` to
/// that CPU alone, whatever its own affinity: a process may widen its own), then gives the
/// thread its affinity back. CPUs it may not use are skipped.
pub fn on_each_cpu(mut f: impl FnMut()) -> Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut saved: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `saved` is a cpu_set_t of `size` bytes the kernel fills in.
    let ret = unsafe { libc::sched_getaffinity(0, size, &mut saved) };
    check(ret.into(), "sched_getaffinity", || "0".into())?;
    // SAFETY: sysconf reads a constant of the system.
    let configured = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
    let cpus = usize::try_from(configured).unwrap_or(1);
    for cpu in 0..cpus.min(usize::try_from(libc::CPU_SETSIZE).unwrap_or(1)) {
        // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET writes inside it (`cpu` is
        // below CPU_SETSIZE).
        let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe { libc::CPU_SET(cpu, &mut one) };
        // SAFETY: `one` is a valid cpu_set_t of `size` bytes, read by the kernel.
        if unsafe { libc::sched_setaffinity(0, size, &one) } == 0 {
            f();
        }
    }
    // SAFETY: `saved` is the set read above.
    let ret = unsafe { libc::sched_setaffinity(0, size, &saved) };
    check(ret.into(), "sched_setaffinity", || "0, saved".into()).map(drop)
}
