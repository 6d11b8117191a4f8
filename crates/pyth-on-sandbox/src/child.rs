//! What runs inside the sandbox before the user's code: the run's init and the payload set-up.
//!
//! The supervisor `clone()`s **init** into new mount, PID, network, IPC and UTS namespaces.
//! Init (pid 1 of the run, root, trusted code) joins the run's cgroup, enters a new cgroup
//! namespace, builds and pivots into the root file system ([`crate::rootfs`]), sets the
//! hostname and brings `lo` up. Then it forks the **payload** (pid 2), which moves its stdio
//! onto the supervisor's pipes, sets rlimits, drops to the unprivileged uid/gid with every
//! capability gone, marks all other descriptors close-on-exec, installs seccomp, writes
//! `ready` to the status pipe and blocks on the **release pipe**. All of that holds nothing of
//! any user, so a warm pool can do it ahead of time. The supervisor then sends the user's part
//! of the job ([`Release`]): the payload sets `RLIMIT_CPU` from the job's timeout, writes the
//! program into `/code` through the descriptor init opened (decrypting it first for a ZK job,
//! see [`crate::zk`]), closes that descriptor and `execve`s the interpreter with the job's
//! argv and environment; before the exec it writes the job's input files under `/work`
//! ([`crate::files::input`]). The user's code is therefore never pid 1: pid 1 reaps orphans
//! and, when the payload exits, kills every other process of the run (daemons included), reaps
//! them all, collects the output files the job asked for (their spec arrives on a pipe of its
//! own, written by the supervisor at release; the files go back on another, see
//! [`crate::files::collect`]), reports the payload's status over the status pipe and exits.
//!
//! Init stays root but is not dumpable, so the payload (another uid) cannot signal, ptrace or
//! read `/proc/1/*` of it, and `hidepid=2` hides it entirely. (With a fork server init stays
//! dumpable, see `forked_init`: the uid, seccomp and `hidepid=2` still keep the payload out.)
//!
//! Failures before exec are written as text to the error pipe (close-on-exec: EOF there means
//! the interpreter was exec'd) and end the process with [`SETUP_FAILED`].

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

use crate::error::ChildError;
use crate::files::{collect, input, OutputSpec, WORK_DIR};
use crate::protocol::{self, JobSpec};
use crate::release::Release;
use crate::rlimits::{cpu_limit_secs, payload_rlimits, set_cpu_limit};
use crate::seccomp::{self, Policy};
use crate::zk::{self, ZkOutcome};
use crate::{command, priority, rootfs, sys, warm};

mod forked;

/// Exit code of init or payload when set-up failed (the error text is on the error pipe).
pub const SETUP_FAILED: i32 = 125;

/// Everything the child side needs, prepared by the supervisor before `clone()` so the child
/// only performs system calls and small allocations. Holds no user data.
#[derive(Debug)]
pub struct ChildPlan<'a> {
    /// The profile (the job without its user part).
    pub spec: &'a JobSpec,
    /// The seccomp program.
    pub policy: Policy,
    /// Where the run's root comes from (built, or the spawner's skeleton).
    pub root: rootfs::Root,
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
    /// Read end of the release pipe (close-on-exec): the payload reads its [`Release`] here.
    pub release: File,
    /// Read end of the output-spec pipe (close-on-exec): the supervisor writes the job's
    /// [`OutputSpec`](crate::files::OutputSpec) there at release; init reads it once the
    /// payload exited. Init takes it before it forks the payload, which never holds it.
    pub output_spec: Option<File>,
    /// Write end of the files pipe (close-on-exec): init sends the collected output files
    /// there ([`crate::files::collect`]). Taken by init before the fork, like `output_spec`:
    /// no process of the user can ever write to it.
    pub files: Option<File>,
    /// Write end of the cell-result pipe of a session (`None` for a run): the kernel writes
    /// each cell's result record there ([`crate::session`]). Only the payload holds it.
    pub cells: Option<OwnedFd>,
    /// Read end of the exit pipe when the payload comes from a fork server
    /// ([`crate::fork_server`]): init forks none and learns the payload's end there.
    pub payload_exit: Option<File>,
    /// Read end of the notice pipe, beside the exit pipe: the payload's own word that its
    /// program ended, sent before its slow exit ([`forked`]). Untrusted.
    pub payload_notice: Option<File>,
    /// The run cgroup's memory use in bytes, opened read-only, beside the notice pipe: a run
    /// that holds much memory is not ended at its notice (its exit's CPU time would not be
    /// counted, see [`forked`]).
    pub memory_usage: Option<File>,
    /// The network namespace leased to the run ([`crate::netns`]), entered by init first;
    /// `None`: init was cloned into a new one.
    pub netns: Option<OwnedFd>,
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

/// Writes one `key value` line to the status pipe in one `write` (best effort).
fn note(fd: &OwnedFd, key: &str, value: impl std::fmt::Display) {
    write_status(fd, &format!("{key} {value}\n"));
}

/// Writes `lines` to the status pipe in one `write`: the supervisor wakes once for them.
fn write_status(fd: &OwnedFd, lines: &str) {
    if let Ok(dup) = fd.try_clone() {
        let _ = File::from(dup).write_all(lines.as_bytes());
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

fn init_run(mut plan: ChildPlan<'_>) -> ! {
    let code = match init_setup(&plan) {
        Ok(code) => code,
        Err(e) => {
            report(&plan.error, &e);
            sys::exit_now(SETUP_FAILED);
        }
    };
    // Init's own: the payload must never hold them (it could forge or read the files frame).
    let outputs = (plan.output_spec.take(), plan.files.take());
    if let Some(exit) = plan.payload_exit.take() {
        forked_init(plan, code, outputs, exit);
    }
    let payload = match sys::fork() {
        Ok(0) => {
            drop(outputs);
            payload_main(&plan, code)
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
    let status = keep_only_status(plan, code);
    let _ = sys::set_not_dumpable();
    loop {
        match sys::waitpid(-1, false) {
            Ok(Some((pid, exit))) if pid == payload => {
                let (spec, files) = outputs;
                end_run(&status, (spec.and_then(collect::read_spec), files), exit, 0)
            }
            Ok(_) => {} // a reaped orphan
            Err(_) => sys::exit_now(SETUP_FAILED),
        }
    }
}

/// Closes init's copies of everything the payload uses and returns the status pipe, all init
/// keeps (with the files pipes it took before). Only the payload may hold the pipes: EOF on
/// stdout/stderr must mean the run is over, and a write to the release pipe must fail (not
/// block) once the payload is gone.
fn keep_only_status(plan: ChildPlan<'_>, code: File) -> OwnedFd {
    let ChildPlan {
        stdin,
        stdout,
        stderr,
        error,
        status,
        release,
        cgroup_procs,
        cells,
        ..
    } = plan;
    drop((
        stdin,
        stdout,
        stderr,
        error,
        release,
        cgroup_procs,
        code,
        cells,
    ));
    status
}

/// Init of a sandbox whose payload a fork server provides ([`crate::fork_server`]): keeps only
/// the status pipe, says `init 1` (the supervisor then asks the fork server for the payload),
/// waits for the payload's end while reaping orphans, and ends the run. A payload's notice
/// ends the run at once when nothing but its exit is left to wait for (see
/// [`forked`]); otherwise the fork server's report does, as without one.
fn forked_init(
    mut plan: ChildPlan<'_>,
    code: File,
    (spec, files): (Option<File>, Option<File>),
    exit: File,
) -> ! {
    let notice = plan.payload_notice.take();
    let memory = plan.memory_usage.take();
    let status = keep_only_status(plan, code);
    // Init stays dumpable here: entering its namespaces through its pidfd (the fork server's
    // `setns`) needs ptrace-read access to it, which a non-dumpable init grants only with
    // CAP_SYS_PTRACE (not in the systemd unit's or the container's set). The payload still
    // cannot reach it: another uid (ptrace and /proc/1 need the same uid), seccomp refuses
    // ptrace and process_vm_*, and hidepid=2 hides /proc/1 (tests/fork_server.rs).
    let children = match sys::child_signal_fd() {
        Ok(fd) => File::from(fd),
        Err(_) => sys::exit_now(SETUP_FAILED),
    };
    let last_pid = forked::LastPid::open();
    note(&status, "init", 1);
    let mut watch = forked::Watch::new(exit, notice, children);
    let code = match watch.next() {
        forked::Ended::Reported(end) => {
            let spec = spec.and_then(collect::read_spec);
            end_run(&status, (spec, files), end.exit, end.cpu_us)
        }
        forked::Ended::Noticed(code) => code,
    };
    // Output files are collected only once nothing of the run is alive: the fork server's
    // report says so. Without them, with little memory to free, and with no process but the
    // payload ever, the payload's CPU clock is all the run used. Checked again after the kill
    // (nothing can start then), so no process ran unseen; the clock, read after it, is final.
    let spec = spec.and_then(collect::read_spec);
    let fast = spec.is_none()
        && forked::exit_is_cheap(memory.as_ref())
        && last_pid.only_the_payload_ever_ran();
    if fast && sys::kill_all_others().is_ok() {
        // Its exit (freeing its copy of the fork server's memory) is background work, at
        // nice 19 like the teardown, no longer `SCHED_IDLE` (run.py, `_pyth_on_notice`).
        let _ = sys::set_normal_policy(forked::PAYLOAD_PID, priority::PREPARE_NICE);
        let cpu_us = last_pid
            .only_the_payload_ever_ran()
            .then(|| sys::process_cpu_us(forked::PAYLOAD_PID).ok())
            .flatten()
            .unwrap_or_else(|| watch.report().cpu_us);
        end_run(&status, (None, files), sys::Exit::Code(code), cpu_us)
    }
    // The run now ends with the payload's exit: back to the normal priority (its bootstrap
    // went to `SCHED_IDLE` for its notice).
    let _ = sys::set_normal_policy(forked::PAYLOAD_PID, 0);
    let end = watch.report();
    end_run(&status, (spec, files), end.exit, end.cpu_us)
}

/// The payload exited: kill and reap every other process of the run, collect the output files
/// the job asked for (now that nothing of the run is alive, see [`crate::files::collect`]),
/// report the payload's exit on the status pipe, exit. `payload_cpu_us`: the CPU time of a
/// payload init did not reap itself (a fork server's).
fn end_run(
    status: &OwnedFd,
    (spec, files): (Option<OutputSpec>, Option<File>),
    exit: sys::Exit,
    payload_cpu_us: u64,
) -> ! {
    let _ = sys::kill_all_others();
    // Until ECHILD: every process of the run is a descendant of init (orphans are re-parented
    // to it), so none is left after this.
    while let Ok(Some(_)) = sys::waitpid(-1, false) {}
    if let (Some(spec), Some(mut out)) = (spec, files) {
        // Best effort: an incomplete stream (no end record) gives the supervisor no files.
        let _ = collect::collect(Path::new(WORK_DIR), &spec, &mut out);
    }
    // Every process of the run has been waited for: their CPU time is all in init's children
    // usage (a descendant's in its parent's, reaped by init in the end).
    let mut report = String::new();
    if let Ok(cpu_us) = sys::children_cpu_us() {
        report = format!("cpu_us {}\n", cpu_us + payload_cpu_us);
    }
    // The files pipe is closed (dropped above) before the exit is reported; the CPU time and
    // the exit go in one write, the exit last.
    match exit {
        sys::Exit::Code(c) => report.push_str(&format!("code {c}\n")),
        sys::Exit::Signal(s) => report.push_str(&format!("signal {s}\n")),
    }
    write_status(status, &report);
    // What is left is init's exit (its memory, the namespaces' teardown), ~160 µs of CPU that
    // the runner, woken by the report, should not wait behind: background work.
    let _ = sys::set_nice(0, priority::PREPARE_NICE);
    sys::exit_now(exit.as_code());
}

fn init_setup(plan: &ChildPlan<'_>) -> Result<File, ChildError> {
    // If the runner dies, so does the run (and with init, its whole PID namespace).
    sys::set_parent_death_signal(libc::SIGKILL).map_err(step("pdeathsig"))?;
    if let Some(ns) = &plan.netns {
        sys::setns(ns.as_fd(), libc::CLONE_NEWNET).map_err(step("network namespace"))?;
    }
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
    let code = rootfs::enter(plan.spec, &plan.root)?;
    sys::sethostname(&plan.spec.sandbox.hostname).map_err(step("hostname"))?;
    if plan.spec.sandbox.loopback {
        sys::loopback_up().map_err(step("loopback"))?;
    }
    note(&plan.status, "rootfs_ms", ms_since(t));
    Ok(code)
}

/// The payload (pid 2): isolate, say `ready`, wait for the release, exec. Never returns.
fn payload_main(plan: &ChildPlan<'_>, code: File) -> ! {
    if let Err(e) = payload_setup(plan) {
        report(&plan.error, &e);
        sys::exit_now(SETUP_FAILED);
    }
    if plan.spec.prestart || plan.spec.session {
        prestart(plan, code);
    }
    note(&plan.status, "ready", 1);
    let release = match protocol::read_frame::<Release>(&mut &plan.release) {
        Ok(r) => r,
        Err(e) => {
            let e = ChildError::Release(e.to_string());
            report(&plan.error, &e);
            sys::exit_now(SETUP_FAILED)
        }
    };
    let e = payload_release(plan, release, code);
    report(&plan.error, &e);
    sys::exit_now(SETUP_FAILED)
}

/// Applies the user's part and execs; returns only on failure. A failed ZK decryption exits
/// here with its own status, before any user code exists.
fn payload_release(plan: &ChildPlan<'_>, mut release: Release, mut code: File) -> ChildError {
    if let Err(e) = set_cpu_limit(cpu_limit_secs(release.timeout_ms)) {
        return ChildError::Sys {
            step: "rlimits",
            source: e,
        };
    }
    let mut spec = plan.spec.clone();
    spec.args = std::mem::take(&mut release.args);
    spec.env = std::mem::take(&mut release.env);
    let command = match command::build(&spec) {
        Ok(c) => c,
        Err(e) => return ChildError::Release(e.to_string()),
    };
    let written = match release.zk.take() {
        Some(zk) => {
            let plain = zk::decrypt(&zk, rootfs::code_limit(plan.spec));
            drop(zk); // wipes the password
            match plain {
                Ok(plain) => {
                    let w = code.write_all(&plain);
                    drop(plain); // wiped
                    note(&plan.status, "zk", ZkOutcome::Decrypted.word());
                    w
                }
                Err(outcome) => {
                    note(&plan.status, "zk", outcome.word());
                    sys::exit_now(outcome.exit_code().unwrap_or(SETUP_FAILED));
                }
            }
        }
        None => code.write_all(release.code.as_bytes()),
    };
    if let Err(source) = written {
        return ChildError::Io {
            step: "write program",
            path: plan.spec.language.main_file().into(),
            source,
        };
    }
    drop(code);
    let files = std::mem::take(&mut release.files);
    drop(release);
    if let Err(e) = input::write_all(Path::new(WORK_DIR), &files, plan.spec.limits.fsize_bytes) {
        return e;
    }
    drop(files);
    ChildError::Sys {
        step: "exec",
        source: sys::execve(&command.exe, &command.argv, &command.envp),
    }
}

/// Pre-started interpreter ([`crate::warm`]): puts the release pipe, the program file, the
/// error and status pipes on the bootstrap's descriptors and execs the interpreter on the
/// bootstrap now, before any job exists. The bootstrap says `ready` itself. Never returns.
fn prestart(plan: &ChildPlan<'_>, code: File) -> ! {
    // A close-on-exec copy of the error pipe above the targets, for failures from here on
    // (the original's number may be one of the targets).
    let error = match sys::dup_above(plan.error.as_fd(), 64) {
        Ok(fd) => fd,
        Err(_) => sys::exit_now(SETUP_FAILED),
    };
    let fail = |e: ChildError| -> ! {
        report(&error, &e);
        sys::exit_now(SETUP_FAILED)
    };
    let mut sources = vec![
        (plan.release.as_fd(), warm::RELEASE_FD),
        (code.as_fd(), warm::CODE_FD),
        (plan.error.as_fd(), warm::ERROR_FD),
        (plan.status.as_fd(), warm::STATUS_FD),
    ];
    if let Some(cells) = &plan.cells {
        sources.push((cells.as_fd(), crate::session::kernel::RESULT_FD));
    }
    // Copy every source above the targets first, so that no dup2 below closes a source
    // that is still needed; the copies are close-on-exec, the targets are not.
    let mut high = Vec::with_capacity(sources.len());
    for (fd, target) in sources {
        match sys::dup_above(fd, 64) {
            Ok(copy) => high.push((copy, target)),
            Err(e) => fail(step("prestart descriptors")(e)),
        }
    }
    for (copy, target) in &high {
        if let Err(e) = sys::dup2(copy.as_fd(), *target) {
            fail(step("prestart descriptors")(e));
        }
    }
    let command = match command::build(plan.spec) {
        Ok(c) => c,
        Err(e) => fail(ChildError::Release(e.to_string())),
    };
    fail(ChildError::Sys {
        step: "exec",
        source: sys::execve(&command.exe, &command.argv, &command.envp),
    })
}

fn payload_setup(plan: &ChildPlan<'_>) -> Result<(), ChildError> {
    let t = Instant::now();
    for (fd, target) in [(&plan.stdin, 0), (&plan.stdout, 1), (&plan.stderr, 2)] {
        sys::dup2(fd.as_fd(), target).map_err(step("stdio"))?;
    }
    // A session of its own: the server's process group (runners, the fork server, the server)
    // is then out of reach of a kill(0, ...) from the run (SIGCONT needs only the session).
    sys::setsid().map_err(step("setsid"))?;
    let l = &plan.spec.limits;
    // RLIMIT_CPU depends on the job's timeout: set at release (by the payload itself, or with
    // `prestart` by the supervisor; until then the profile's timeout bounds it).
    if plan.spec.prestart || plan.spec.session {
        set_cpu_limit(cpu_limit_secs(l.timeout_ms)).map_err(step("rlimits"))?;
    }
    for (res, soft, hard) in payload_rlimits(l.nofile, l.fsize_bytes) {
        sys::setrlimit(res, soft, hard).map_err(step("rlimits"))?;
    }
    sys::reset_signals().map_err(step("signals"))?;
    sys::drop_bounding_and_ambient().map_err(step("capability bounding set"))?;
    let (uid, gid) = (plan.spec.sandbox.uid, plan.spec.sandbox.gid);
    sys::set_credentials(uid, gid).map_err(step("credentials"))?;
    sys::clear_capabilities().map_err(step("capabilities"))?;
    sys::set_no_new_privs().map_err(step("no_new_privs"))?;
    // Speculative store bypass and indirect branch speculation off for this task and all it
    // starts, where the kernel offers the control (see SECURITY.md for the cost).
    sys::force_speculation_mitigations();
    // Everything but 0, 1, 2 closes at exec, including the error pipe (whose EOF tells the
    // supervisor the exec happened).
    sys::cloexec_from(3).map_err(step("close-on-exec"))?;
    debug_assert!(plan.error.as_raw_fd() > 2);
    seccomp::install(&plan.policy)?;
    note(&plan.status, "privileges_ms", ms_since(t));
    Ok(())
}
