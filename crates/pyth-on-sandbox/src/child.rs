//! What runs inside the sandbox before the user's code: the run's init and the payload set-up.
//!
//! The supervisor `clone()`s **init** into new mount, PID, network, IPC and UTS namespaces.
//! Init (pid 1 of the run, root, trusted code) joins the run's cgroup, enters a new cgroup
//! namespace, builds and pivots into the root file system ([`crate::rootfs`]), sets the
//! hostname and brings `lo` up. Then it forks the **payload** (pid 2), which moves its stdio
//! onto the supervisor's pipes, sets rlimits, drops to the unprivileged uid/gid with every
//! capability gone, marks all other descriptors close-on-exec, installs seccomp and `execve`s
//! the interpreter. The user's code is therefore never pid 1: pid 1 reaps orphans and, when the
//! payload exits, reports its status over the status pipe and exits, which makes the kernel kill
//! everything left in the PID namespace (daemons included).
//!
//! Init stays root but is not dumpable, so the payload (another uid) cannot signal, ptrace or
//! read `/proc/1/*` of it, and `hidepid=2` hides it entirely.
//!
//! Failures before exec are written as text to the error pipe (close-on-exec: EOF there means
//! the interpreter was exec'd) and end the process with [`SETUP_FAILED`].

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Instant;

use crate::command::Command;
use crate::error::ChildError;
use crate::protocol::JobSpec;
use crate::seccomp::{self, Policy};
use crate::{rootfs, sys};

/// Exit code of init or payload when set-up failed (the error text is on the error pipe).
pub const SETUP_FAILED: i32 = 125;

/// Everything the child side needs, prepared by the supervisor before `clone()` so the child
/// only performs system calls and small allocations.
#[derive(Debug)]
pub struct ChildPlan<'a> {
    /// The job.
    pub spec: &'a JobSpec,
    /// execve arguments.
    pub command: Command,
    /// Seccomp programs.
    pub policy: Policy,
    /// Host directory the new root tmpfs is mounted on (inside the new mount namespace).
    pub new_root: PathBuf,
    /// `cgroup.procs` files of the run's cgroup(s), opened write-only by the supervisor.
    pub cgroup_procs: Vec<File>,
    /// Read end of the stdin pipe.
    pub stdin: OwnedFd,
    /// Write end of the stdout pipe.
    pub stdout: OwnedFd,
    /// Write end of the stderr pipe.
    pub stderr: OwnedFd,
    /// Write end of the error pipe (close-on-exec).
    pub error: OwnedFd,
    /// Write end of the status pipe (init reports the payload's wait status here).
    pub status: OwnedFd,
}

fn step(step: &'static str) -> impl FnOnce(crate::error::SysError) -> ChildError {
    move |source| ChildError::Sys { step, source }
}

fn report(fd: &OwnedFd, err: &ChildError) {
    let mut f = File::from(
        fd.try_clone()
            .unwrap_or_else(|_| sys::exit_now(SETUP_FAILED)),
    );
    let _ = write!(f, "{err}");
}

/// Writes one `key value` line to the status pipe (best effort).
fn note(fd: &OwnedFd, key: &str, value: impl std::fmt::Display) {
    if let Ok(dup) = fd.try_clone() {
        let _ = writeln!(File::from(dup), "{key} {value}");
    }
}

fn ms_since(t: Instant) -> String {
    format!("{:.3}", t.elapsed().as_secs_f64() * 1000.0)
}

/// Entry point of the cloned child. Never returns, not even by unwinding: a panic here must
/// not travel back into the supervisor's code on the copied stack.
pub fn init_main(plan: ChildPlan<'_>) -> ! {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| init_run(plan)));
    match outcome {
        Ok(never) => never,
        Err(_) => sys::exit_now(SETUP_FAILED),
    }
}

fn init_run(plan: ChildPlan<'_>) -> ! {
    if let Err(e) = init_setup(&plan) {
        report(&plan.error, &e);
        sys::exit_now(SETUP_FAILED);
    }
    let payload = match sys::fork() {
        Ok(0) => {
            let e = payload_exec(&plan);
            report(&plan.error, &e);
            sys::exit_now(SETUP_FAILED)
        }
        Ok(pid) => pid,
        Err(e) => {
            let e = ChildError::Sys {
                step: "fork payload",
                source: e,
            };
            report(&plan.error, &e);
            sys::exit_now(SETUP_FAILED)
        }
    };
    let ChildPlan {
        stdin,
        stdout,
        stderr,
        error,
        status,
        ..
    } = plan;
    // Only the payload may hold the pipes: EOF on stdout/stderr must mean the run is over.
    drop((stdin, stdout, stderr, error));
    let _ = sys::set_not_dumpable();
    loop {
        match sys::waitpid(-1, false) {
            Ok(Some((pid, exit))) if pid == payload => {
                match exit {
                    sys::Exit::Code(c) => note(&status, "code", c),
                    sys::Exit::Signal(s) => note(&status, "signal", s),
                }
                sys::exit_now(exit.as_code());
            }
            Ok(_) => {} // a reaped orphan
            Err(_) => sys::exit_now(SETUP_FAILED),
        }
    }
}

fn init_setup(plan: &ChildPlan<'_>) -> Result<(), ChildError> {
    // If the runner dies, so does the run (and with init, its whole PID namespace).
    sys::set_parent_death_signal(libc::SIGKILL).map_err(step("pdeathsig"))?;
    // (getppid() is 0 for a namespace's init, so a runner that died before this point cannot
    // be detected here; the run then ends at RLIMIT_CPU or stays asleep in its cgroup, which
    // the next runner's stale sweep cannot remove while it is busy. Rare: microseconds.)
    let t = Instant::now();
    for mut f in &plan.cgroup_procs {
        f.write_all(b"0").map_err(|source| ChildError::Io {
            step: "join cgroup",
            path: "cgroup.procs".into(),
            source,
        })?;
    }
    note(&plan.status, "join_ms", ms_since(t));
    let t = Instant::now();
    sys::unshare(libc::CLONE_NEWCGROUP).map_err(step("cgroup namespace"))?;
    rootfs::enter(plan.spec, &plan.new_root)?;
    sys::sethostname(&plan.spec.sandbox.hostname).map_err(step("hostname"))?;
    if plan.spec.sandbox.loopback {
        sys::loopback_up().map_err(step("loopback"))?;
    }
    note(&plan.status, "rootfs_ms", ms_since(t));
    Ok(())
}

/// Runs in the payload (pid 2); returns only on failure.
fn payload_exec(plan: &ChildPlan<'_>) -> ChildError {
    match payload_setup(plan) {
        Ok(()) => ChildError::Sys {
            step: "exec",
            source: sys::execve(&plan.command.exe, &plan.command.argv, &plan.command.envp),
        },
        Err(e) => e,
    }
}

fn payload_setup(plan: &ChildPlan<'_>) -> Result<(), ChildError> {
    let t = Instant::now();
    for (fd, target) in [(&plan.stdin, 0), (&plan.stdout, 1), (&plan.stderr, 2)] {
        sys::dup2(fd.as_fd(), target).map_err(step("stdio"))?;
    }
    let l = &plan.spec.limits;
    let cpu_secs = l.timeout_ms / 1000 + 2;
    for (res, soft, hard) in [
        (libc::RLIMIT_NOFILE, l.nofile, l.nofile),
        (libc::RLIMIT_FSIZE, l.fsize_bytes, l.fsize_bytes),
        (libc::RLIMIT_CORE, 0, 0),
        (libc::RLIMIT_CPU, cpu_secs, cpu_secs + 1),
        (libc::RLIMIT_MEMLOCK, 64 << 10, 64 << 10),
        (libc::RLIMIT_MSGQUEUE, 0, 0),
    ] {
        sys::setrlimit(res, soft, hard).map_err(step("rlimits"))?;
    }
    sys::reset_signals().map_err(step("signals"))?;
    sys::drop_bounding_and_ambient().map_err(step("capability bounding set"))?;
    let (uid, gid) = (plan.spec.sandbox.uid, plan.spec.sandbox.gid);
    sys::set_credentials(uid, gid).map_err(step("credentials"))?;
    sys::clear_capabilities().map_err(step("capabilities"))?;
    sys::set_no_new_privs().map_err(step("no_new_privs"))?;
    // Everything but 0, 1, 2 closes at exec, including the error pipe (whose EOF tells the
    // supervisor the exec happened).
    sys::cloexec_from(3).map_err(step("close-on-exec"))?;
    debug_assert!(plan.error.as_raw_fd() > 2);
    seccomp::install(&plan.policy)?;
    note(&plan.status, "privileges_ms", ms_since(t));
    Ok(())
}
