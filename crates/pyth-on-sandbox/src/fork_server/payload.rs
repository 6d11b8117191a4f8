//! A forked payload entering its sandbox, in native code before any Python code runs in it:
//! the same steps, in the same order, as the Rust payload's (`child.rs`, `payload_setup`).
//!
//! It enters init's mount, UTS, IPC, network and cgroup namespaces (its PID namespace it was
//! born in), joins the run's cgroups, opens the program's file, puts its descriptors in place
//! and closes every other, takes a session of its own, sets its rlimits, unblocks every
//! signal, changes to the run's uid and gid (groups emptied), empties every capability set,
//! becomes dumpable again (what the `execve` of an unforked run does after its uid changed),
//! forces the speculation mitigations and installs the seccomp program (with
//! `no_new_privs`). The capability bounding and ambient sets, keepcaps and securebits it
//! inherited empty: the fork server dropped them once before its first fork (`zygote.py`).
//! A step that fails ends the payload (125) with the step on the error pipe.

use std::fmt::Display;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Instant;

use super::request::{Request, PIPES};
use crate::{seccomp, sys};

/// The payload's descriptors once in place: 0-2 stdio, 3 release, 4 the program's file, 5
/// error, 6 status, 7 notice.
const ERROR_FD: RawFd = 5;
const STATUS_FD: RawFd = 6;
const NOTICE_FD: RawFd = 7;

/// What the Python side needs of an isolated payload: the notice pipe's identity (the
/// bootstrap writes to fd 7 only while it is still that pipe, and only from this process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// The notice pipe's device and inode.
    pub notice: (u64, u64),
    /// This payload's pid (in its sandbox's PID namespace).
    pub pid: i32,
}

/// Enters the sandbox; returns only when every step held (else the payload ends with 125).
/// `received` is the request's descriptors: every one of them is closed or in its place after.
pub(super) fn enter(
    request: &Request,
    received: &mut Vec<OwnedFd>,
    policy: &seccomp::Policy,
) -> Placed {
    let started = Instant::now();
    let mut error_pipe = received[4].as_raw_fd();
    let placed = match enter_namespaces(request, received) {
        Ok(()) => place_descriptors(received, &request.main, &mut error_pipe),
        Err(e) => Err(e),
    };
    if let Err(e) = placed {
        fail(error_pipe, e);
    }
    match drop_privileges(request, policy) {
        Ok(placed) => {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let _ = sys::write_all_raw(STATUS_FD, format!("privileges_ms {ms:.3}\n").as_bytes());
            placed
        }
        Err(e) => fail(ERROR_FD, e),
    }
}

/// Reports a failed step on the error pipe and ends the payload (the fork server reports the
/// exit, 125, to init).
fn fail(error_pipe: RawFd, e: String) -> ! {
    let _ = sys::write_all_raw(error_pipe, format!("fork server payload: {e}").as_bytes());
    sys::exit_now(125)
}

fn step<E: Display>(name: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{name}: {e}")
}

/// Init's namespaces but PID, then the run's cgroups.
fn enter_namespaces(request: &Request, received: &[OwnedFd]) -> Result<(), String> {
    let all = libc::CLONE_NEWNS
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWCGROUP;
    sys::setns(received[0].as_fd(), all).map_err(step("setns into the sandbox"))?;
    for procs in &received[PIPES + 1..PIPES + 1 + request.cgroups] {
        sys::write_all(procs.as_fd(), b"0").map_err(step("joining the run's cgroup"))?;
    }
    Ok(())
}

/// Opens the program's file in `/work`'s sandbox and puts every descriptor in its place; every
/// other descriptor of this process (the fork server's, other runs') is closed. The error
/// pipe goes first: `error_pipe` is its place from then on.
fn place_descriptors(
    received: &mut Vec<OwnedFd>,
    main: &str,
    error_pipe: &mut RawFd,
) -> Result<(), String> {
    std::env::set_current_dir("/work").map_err(step("chdir /work"))?;
    let code = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(main)
        .map_err(step("opening the program's file"))?;
    let code = OwnedFd::from(code);
    let r = |i: usize| received[i].as_fd();
    let wanted: [(BorrowedFd<'_>, RawFd); 8] = [
        (r(4), ERROR_FD),
        (r(1), 0),
        (r(2), 1),
        (r(3), 2),
        (r(6), 3),
        (code.as_fd(), 4),
        (r(5), STATUS_FD),
        (r(8), NOTICE_FD),
    ];
    // Copies above the targets first, so that no dup2 closes a source still needed.
    let mut high = Vec::with_capacity(wanted.len());
    for (fd, target) in wanted {
        high.push((sys::dup_above(fd, 64).map_err(step("dup"))?, target));
    }
    for (copy, target) in &high {
        sys::dup2(copy.as_fd(), *target).map_err(step("dup2"))?;
        *error_pipe = ERROR_FD;
    }
    // Every one of these is closed below by number, with every other descriptor from 8 on.
    let _ = code.into_raw_fd();
    for (copy, _) in high {
        let _ = copy.into_raw_fd();
    }
    for fd in received.drain(..) {
        let _ = fd.into_raw_fd();
    }
    sys::close_from(8).map_err(step("close_range"))?;
    sys::cloexec_from(3).map_err(step("close-on-exec"))
}

/// Session, rlimits, signals, credentials, capabilities, dumpable, speculation, seccomp.
fn drop_privileges(request: &Request, policy: &seccomp::Policy) -> Result<Placed, String> {
    // A session of its own: the server's process group is out of reach of kill(0, ...).
    sys::setsid().map_err(step("setsid"))?;
    for (resource, soft, hard) in crate::rlimits::payload_rlimits(request.nofile, request.fsize) {
        sys::setrlimit(resource, soft, hard).map_err(step("rlimits"))?;
    }
    crate::rlimits::set_cpu_limit(request.cpu_secs).map_err(step("rlimits"))?;
    sys::unblock_all_signals().map_err(step("signals"))?;
    sys::set_credentials(request.uid, request.gid).map_err(step("credentials"))?;
    sys::clear_capabilities().map_err(step("capabilities"))?;
    // The uid change made the process non-dumpable (its /proc files root's); an exec would
    // have made it dumpable again, as every unforked run's interpreter is.
    sys::set_dumpable().map_err(step("dumpable"))?;
    sys::force_speculation_mitigations();
    seccomp::install(policy).map_err(step("seccomp"))?;
    Ok(Placed {
        notice: sys::file_identity_raw(NOTICE_FD).map_err(step("fstat notice"))?,
        pid: sys::getpid(),
    })
}
