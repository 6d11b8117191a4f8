//! CPUs and CPU time: moving the calling thread from CPU to CPU (what the network-namespace
//! pool needs to make each CPU's copy of a route before it records a new namespace,
//! [`crate::netns`]), the CPU time of reaped children and of another process, and another
//! process's scheduling policy. Part of [`crate::sys`], under the same rules.

use super::{check, Result};
use crate::error::SysError;

/// Puts process `pid` under the normal scheduling policy (`SCHED_OTHER`, whatever it had:
/// a forked payload goes to `SCHED_IDLE` itself before its notice) at nice value `nice`.
/// Raising a process's priority needs `CAP_SYS_NICE` (init has it as root).
pub fn set_normal_policy(pid: i32, nice: i32) -> Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param the kernel only reads.
    let ret = unsafe { libc::sched_setscheduler(pid, libc::SCHED_OTHER, &param) };
    check(ret.into(), "sched_setscheduler", || {
        format!("pid {pid}, SCHED_OTHER")
    })?;
    super::set_nice(pid, nice)
}

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

/// The CPUs thread `tid` may run on (`sched_getaffinity`; 0 is the calling thread, the
/// process id its main thread), ascending.
pub fn affinity(tid: i32) -> Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a cpu_set_t of `size` bytes the kernel fills in.
    let ret = unsafe { libc::sched_getaffinity(tid, size, &mut set) };
    check(ret.into(), "sched_getaffinity", || tid.to_string())?;
    let most = usize::try_from(libc::CPU_SETSIZE).unwrap_or(0);
    // SAFETY: `set` is initialised and every `cpu` is below CPU_SETSIZE.
    Ok((0..most)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Lets the calling thread run on `cpus` only (`sched_setaffinity`; what it starts from now
/// on inherits them). A thread may move itself to any CPU its cpuset allows.
pub fn set_affinity(cpus: &[usize]) -> Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let most = usize::try_from(libc::CPU_SETSIZE).unwrap_or(0);
    for &cpu in cpus.iter().filter(|&&cpu| cpu < most) {
        // SAFETY: CPU_SET writes inside `set` (`cpu` is below CPU_SETSIZE).
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a valid cpu_set_t of `size` bytes, read by the kernel.
    let ret = unsafe { libc::sched_setaffinity(0, size, &set) };
    check(ret.into(), "sched_setaffinity", || format!("0, {cpus:?}")).map(drop)
}

/// CPU time (user + system) of the children this process has waited for, their own waited-for
/// descendants included (`getrusage(RUSAGE_CHILDREN)`), in microseconds.
pub fn children_cpu_us() -> Result<u64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid out-pointer for the duration of the call.
    let ret = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    check(ret.into(), "getrusage", || "RUSAGE_CHILDREN".into())?;
    // SAFETY: getrusage succeeded, so it filled the struct (which was zeroed before anyway).
    let usage = unsafe { usage.assume_init() };
    let micros = |t: libc::timeval| {
        u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_usec).unwrap_or(0)
    };
    Ok(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// The CPU time (every thread's, living or not; not its children's) of process `pid` of the
/// caller's PID namespace, in µs, read from its process CPU clock. The kernel lets any
/// process read it, whatever the owner; it fails once the process was reaped.
pub fn process_cpu_us(pid: i32) -> Result<u64> {
    if pid <= 0 {
        return Err(SysError::from_io(
            "clock_gettime",
            format!("process {pid}"),
            std::io::Error::from_raw_os_error(libc::EINVAL),
        ));
    }
    // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED): what glibc's clock_getcpuclockid(3) builds.
    let clock: libc::clockid_t = (!pid << 3) | 2;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the duration of the call.
    let ret = unsafe { libc::clock_gettime(clock, &mut ts) };
    check(ret.into(), "clock_gettime", || format!("process {pid}"))?;
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    Ok(secs * 1_000_000 + nanos / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_process_cpu_clock_is_read_until_it_is_reaped() {
        // Burns 50 ms of CPU time, however fast the machine, then waits for its stdin.
        let burn =
            "import sys, time\nwhile time.process_time() < 0.05:\n    pass\nsys.stdin.read()";
        let mut child = std::process::Command::new("/usr/bin/python3")
            .args(["-c", burn])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let mut last = 0;
        for _ in 0..1000 {
            last = process_cpu_us(pid).unwrap();
            if last > 50_000 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(
            last > 50_000,
            "the child's loop shows as CPU time: {last} µs"
        );
        drop(child.stdin.take());
        child.wait().unwrap();
        assert!(
            process_cpu_us(pid).is_err(),
            "a reaped process has no clock"
        );
        assert!(process_cpu_us(0).is_err(), "0 is not another process");
    }

    /// The scheduling policy (field 41 of `/proc/PID/stat`) and nice value (field 19).
    fn policy_and_nice(pid: i32) -> (i32, i32) {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after_name = stat.rsplit_once(')').unwrap().1;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // Field 3 (state) is the first after the name.
        (
            fields[41 - 3].parse().unwrap(),
            fields[19 - 3].parse().unwrap(),
        )
    }

    #[test]
    fn a_process_under_sched_idle_is_put_back_under_the_normal_policy_at_the_nice_value_asked() {
        assert!(
            crate::running_as_root(),
            "raising a process out of SCHED_IDLE needs CAP_SYS_NICE: run as root, as CI does"
        );
        let mut child = std::process::Command::new("chrt")
            .args(["--idle", "0", "sleep", "30"])
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let mut seen = (0, 0);
        for _ in 0..200 {
            seen = policy_and_nice(pid);
            if seen.0 == libc::SCHED_IDLE {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(
            seen.0,
            libc::SCHED_IDLE,
            "chrt put its child under SCHED_IDLE"
        );

        set_normal_policy(pid, 7).unwrap();
        assert_eq!(policy_and_nice(pid), (libc::SCHED_OTHER, 7));
        set_normal_policy(pid, 0).unwrap();
        assert_eq!(policy_and_nice(pid), (libc::SCHED_OTHER, 0));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            set_normal_policy(pid, 0).is_err(),
            "a reaped process has no policy"
        );
    }
}
