//! Every raw system call of the crate, and the only module allowed `unsafe`.
//!
//! Each function is a thin, typed wrapper: it converts Rust values to C values, makes one call,
//! and turns a failure into a [`SysError`] that names the call and its arguments. Nothing here
//! decides policy; the callers (`child`, `rootfs`, `supervisor`, `cgroup`) do.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::error::SysError;

mod cpu;
mod dir;
mod io;
mod limits;
mod privileges;
mod socket;
pub use cpu::{
    affinity, children_cpu_us, on_each_cpu, process_cpu_us, set_affinity, set_normal_policy,
};
pub use dir::{openat, openat2, read_dir};
pub use io::{
    accept, close_from, file_identity, file_identity_raw, read, set_dumpable, unblock_all_signals,
    wait_with_cpu, write_all, write_all_raw,
};
pub use limits::{descriptor_hard_limit, setrlimit};
pub use privileges::{
    clear_capabilities, drop_bounding_and_ambient, force_speculation_mitigations,
    has_effective_capability, set_credentials, set_malloc_mmap_threshold, set_no_new_privs,
    set_not_dumpable, set_parent_death_signal, setsid,
};
pub use socket::{
    child_signal_fd, connect_abstract, peer_credentials, recv_with_fds, send_with_fds,
    seqpacket_pair, set_timeout, MAX_FDS,
};

type Result<T> = std::result::Result<T, SysError>;

fn cstring(call: &'static str, s: &[u8]) -> Result<CString> {
    CString::new(s).map_err(|_| {
        SysError::from_io(
            call,
            String::from_utf8_lossy(s).into_owned(),
            std::io::Error::from_raw_os_error(libc::EINVAL),
        )
    })
}

fn cpath(call: &'static str, p: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    cstring(call, p.as_os_str().as_bytes())
}

fn check(
    ret: libc::c_long,
    call: &'static str,
    args: impl FnOnce() -> String,
) -> Result<libc::c_long> {
    if ret < 0 {
        Err(SysError::last(call, args()))
    } else {
        Ok(ret)
    }
}

/// Result of [`clone_child`] as seen by each side.
#[derive(Debug)]
pub enum Cloned {
    /// We are the new child (pid 1 of the new PID namespace, if one was asked for).
    Child,
    /// We are the parent; the child's host pid and a pidfd that pins it.
    Parent {
        /// Host pid of the child.
        pid: i32,
        /// A pidfd for the child (`CLONE_PIDFD`): immune to pid reuse, pollable for exit.
        pidfd: OwnedFd,
    },
}

/// `clone(flags | CLONE_PIDFD | SIGCHLD)` with fork semantics (no new stack). `flags` are
/// namespaces to create, or `CLONE_PARENT` (the child becomes the caller's sibling: a child of
/// the caller's parent, which is sent its exit signal).
///
/// The caller must be single-threaded: the child continues on a copy of the caller's stack and
/// memory, like after `fork()`. The runner binary never starts threads.
pub fn clone_child(ns_flags: libc::c_int) -> Result<Cloned> {
    let mut pidfd: libc::c_int = -1;
    let flags = (ns_flags | libc::CLONE_PIDFD | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: a NULL stack gives fork semantics, so the child runs on a private copy of this
    // (single-threaded) process's stack. `pidfd` is a valid, writable c_int for CLONE_PIDFD,
    // which the kernel takes through the parent_tid argument for clone(2).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            &mut pidfd as *mut libc::c_int,
            std::ptr::null_mut::<libc::c_int>(),
            0usize,
        )
    };
    let ret = check(ret, "clone", || {
        format!("{flags:#x}, NULL, &pidfd, NULL, 0")
    })?;
    if ret == 0 {
        return Ok(Cloned::Child);
    }
    // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(Cloned::Parent {
        pid: ret as i32,
        pidfd,
    })
}

/// Plain `fork()`. Returns 0 in the child and the child's pid in the parent.
///
/// Only called by the sandbox's init process, which is single-threaded.
pub fn fork() -> Result<i32> {
    // SAFETY: the calling process is single-threaded (see `clone_child`), so the child may keep
    // allocating and using any state it inherits.
    let ret = unsafe { libc::fork() };
    check(ret.into(), "fork", String::new).map(|r| r as i32)
}

/// `_exit(code)`: leave without running destructors or flushing stdio of the parent's copy.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` is always safe to call; it never returns.
    unsafe { libc::_exit(code) }
}

/// `pipe2(O_CLOEXEC)`, returning (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let ret = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    check(ret.into(), "pipe2", || "fds, O_CLOEXEC".into())?;
    // SAFETY: both descriptors were just created by the kernel and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `dup2(old, new)`; the new descriptor is not close-on-exec.
pub fn dup2(old: BorrowedFd<'_>, new: RawFd) -> Result<()> {
    let o = old.as_raw_fd();
    // SAFETY: dup2 only manipulates the descriptor table; `new` is a stdio slot we mean to replace.
    let ret = unsafe { libc::dup2(o, new) };
    check(ret.into(), "dup2", || format!("{o}, {new}")).map(drop)
}

/// `fcntl(F_DUPFD_CLOEXEC)`: a close-on-exec copy of `fd` numbered `min` or above.
pub fn dup_above(fd: BorrowedFd<'_>, min: RawFd) -> Result<OwnedFd> {
    let raw = fd.as_raw_fd();
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we borrow; no memory is passed.
    let ret = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, min) };
    let new = check(ret.into(), "fcntl", || {
        format!("{raw}, F_DUPFD_CLOEXEC, {min}")
    })?;
    // SAFETY: `new` is a fresh descriptor returned by the kernel that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new as RawFd) })
}

/// Sets `O_NONBLOCK` on a descriptor.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL on a descriptor we borrow; no memory is passed.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    check(flags.into(), "fcntl", || format!("{raw}, F_GETFL"))?;
    // SAFETY: as above.
    let ret = unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    check(ret.into(), "fcntl", || {
        format!("{raw}, F_SETFL, O_NONBLOCK")
    })
    .map(drop)
}

/// `poll(fds, timeout_ms)`; EINTR is reported as zero ready descriptors.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> Result<usize> {
    // SAFETY: the slice is valid for `fds.len()` pollfd structs for the whole call.
    let ret = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if ret < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
        return Ok(0);
    }
    check(ret.into(), "poll", || {
        format!("{} fds, {timeout_ms}", fds.len())
    })
    .map(|n| n as usize)
}

/// How a reaped process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `exit(code)`.
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
}

impl Exit {
    /// How a process ended, from the status `waitpid` or `wait4` filled in.
    pub fn of_status(status: libc::c_int) -> Exit {
        if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            Exit::Code(libc::WEXITSTATUS(status))
        }
    }

    /// Shell convention: the code, or 128 + signal.
    pub fn as_code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

/// `waitpid(pid, status, nohang ? WNOHANG : 0)`; `None` when nothing was ready (WNOHANG).
/// Retries on EINTR.
pub fn waitpid(pid: i32, nohang: bool) -> Result<Option<(i32, Exit)>> {
    let flags = if nohang { libc::WNOHANG } else { 0 };
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a valid out-pointer for the duration of the call.
        let ret = unsafe { libc::waitpid(pid, &mut status, flags) };
        if ret < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        let ret = check(ret.into(), "waitpid", || {
            format!("{pid}, &status, {flags:#x}")
        })?;
        if ret == 0 {
            return Ok(None);
        }
        return Ok(Some((ret as i32, Exit::of_status(status))));
    }
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> Result<()> {
    let raw = pidfd.as_raw_fd();
    // SAFETY: a NULL siginfo is allowed; the descriptor is borrowed for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            raw,
            sig,
            std::ptr::null_mut::<libc::siginfo_t>(),
            0u32,
        )
    };
    check(ret, "pidfd_send_signal", || {
        format!("{raw}, {sig}, NULL, 0")
    })
    .map(drop)
}

/// `pidfd_open(pid, 0)`: a handle that pins `pid` so it cannot be recycled while we hold it.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    // SAFETY: plain integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
    let fd = check(ret, "pidfd_open", || format!("{pid}, 0"))?;
    // SAFETY: the kernel returned a fresh descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `kill(pid, 0)`: does a process with this pid exist?
pub fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let ret = unsafe { libc::kill(pid, 0) };
    ret == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// `kill(pid, SIGKILL)`. Only for a child of the caller that it has not reaped yet (its pid
/// cannot have been reused meanwhile).
pub fn kill_child(pid: i32) -> Result<()> {
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::kill(pid, libc::SIGKILL) };
    check(ret.into(), "kill", || format!("{pid}, SIGKILL")).map(drop)
}

/// `setpriority(PRIO_PROCESS, pid, nice)` (`pid` 0: the caller). Lowering a nice value needs
/// `CAP_SYS_NICE` (the runner has it as root).
pub fn set_nice(pid: i32, nice: i32) -> Result<()> {
    let who = libc::id_t::try_from(pid).unwrap_or(0);
    // SAFETY: setpriority only reads its integer arguments.
    let ret = unsafe { libc::setpriority(libc::PRIO_PROCESS, who, nice) };
    check(ret.into(), "setpriority", || {
        format!("pid {pid}, nice {nice}")
    })
    .map(drop)
}

/// `setpriority(PRIO_USER, uid, nice)`: every process whose real uid is `uid`.
pub fn set_user_nice(uid: u32, nice: i32) -> Result<()> {
    // SAFETY: setpriority only reads its integer arguments.
    let ret = unsafe { libc::setpriority(libc::PRIO_USER, uid, nice) };
    check(ret.into(), "setpriority", || {
        format!("uid {uid}, nice {nice}")
    })
    .map(drop)
}

/// `geteuid() == 0`.
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and takes no arguments.
    unsafe { libc::geteuid() == 0 }
}

/// `getpid()`.
pub fn getpid() -> i32 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

/// `mount(src, target, fstype, flags, data)`.
pub fn mount(
    src: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<()> {
    let args = || format!("{src:?}, {target:?}, {fstype:?}, {flags:#x}, {data:?}");
    let c_src = src.map(|s| cstring("mount", s.as_bytes())).transpose()?;
    let c_target = cpath("mount", target)?;
    let c_fstype = fstype.map(|s| cstring("mount", s.as_bytes())).transpose()?;
    let c_data = data.map(|s| cstring("mount", s.as_bytes())).transpose()?;
    let p = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is NULL or a NUL-terminated string that outlives the call.
    let ret = unsafe {
        libc::mount(
            p(&c_src),
            c_target.as_ptr(),
            p(&c_fstype),
            flags,
            p(&c_data).cast(),
        )
    };
    check(ret.into(), "mount", args).map(drop)
}

/// `umount2(target, flags)`.
pub fn umount2(target: &Path, flags: libc::c_int) -> Result<()> {
    let c = cpath("umount2", target)?;
    // SAFETY: `c` is a valid C string for the call.
    let ret = unsafe { libc::umount2(c.as_ptr(), flags) };
    check(ret.into(), "umount2", || format!("{target:?}, {flags:#x}")).map(drop)
}

/// `pivot_root(new_root, put_old)`.
pub fn pivot_root(new_root: &Path, put_old: &Path) -> Result<()> {
    let a = cpath("pivot_root", new_root)?;
    let b = cpath("pivot_root", put_old)?;
    // SAFETY: both are valid C strings for the call.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, a.as_ptr(), b.as_ptr()) };
    check(ret, "pivot_root", || format!("{new_root:?}, {put_old:?}")).map(drop)
}

/// `unshare(flags)`.
pub fn unshare(flags: libc::c_int) -> Result<()> {
    // SAFETY: integer argument only.
    let ret = unsafe { libc::unshare(flags) };
    check(ret.into(), "unshare", || format!("{flags:#x}")).map(drop)
}

/// `sethostname(name)`.
pub fn sethostname(name: &str) -> Result<()> {
    // SAFETY: pointer and length describe `name`'s bytes.
    let ret = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    check(ret.into(), "sethostname", || format!("{name:?}")).map(drop)
}

/// `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`: every descriptor from `first` on closes at exec.
pub fn cloexec_from(first: u32) -> Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: integer arguments only; marks descriptors, frees no memory.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    check(ret, "close_range", || {
        format!("{first}, ~0, CLOSE_RANGE_CLOEXEC")
    })
    .map(drop)
}

/// Puts `stdio` on descriptors 0, 1 and 2 and closes every other descriptor (`close_range(3,
/// ~0)`), `also` included: what a freshly forked runner keeps. The descriptors given are
/// consumed here (none may be closed again as a value); every other one this process holds
/// must not be owned by a live value either (the caller is a just-forked, single-threaded
/// copy of the spawner, which holds nothing else).
pub fn keep_only_stdio(stdio: [OwnedFd; 3], also: OwnedFd) -> Result<()> {
    for (fd, target) in stdio.iter().zip(0..) {
        dup2(fd.as_fd(), target)?;
    }
    let _ = also.into_raw_fd();
    for fd in stdio {
        let _ = fd.into_raw_fd();
    }
    // SAFETY: integer arguments only. The descriptors from 3 on are the ones just released
    // from their `OwnedFd`s above and the spawner's, which no live value owns (see above).
    let ret = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    check(ret, "close_range", || "3, ~0, 0".into()).map(drop)
}

/// Resets every signal the runner may have changed (Rust ignores SIGPIPE) to its default and
/// unblocks all signals, so the interpreter starts with a clean slate.
pub fn reset_signals() -> Result<()> {
    for sig in [libc::SIGPIPE, libc::SIGINT, libc::SIGTERM, libc::SIGCHLD] {
        // SAFETY: SIG_DFL is a valid disposition for these catchable signals.
        let prev = unsafe { libc::signal(sig, libc::SIG_DFL) };
        if prev == libc::SIG_ERR {
            return Err(SysError::last("signal", format!("{sig}, SIG_DFL")));
        }
    }
    unblock_all_signals()
}

/// `execve(path, argv, envp)`. Only returns on failure.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> SysError {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: path, every argv and envp entry are NUL-terminated strings kept alive by the
    // borrowed slices, and both arrays end with NULL.
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    SysError::last(
        "execve",
        format!("{path:?}, {argv:?}, <{} env entries>", envp.len()),
    )
}

/// Brings the loopback interface of the current network namespace up (`SIOCSIFFLAGS`).
pub fn loopback_up() -> Result<()> {
    // SAFETY: plain socket creation; the result is checked and owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    check(fd.into(), "socket", || {
        "AF_INET, SOCK_DGRAM|SOCK_CLOEXEC, 0".into()
    })?;
    // SAFETY: the descriptor was just created and is owned only here.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero ifreq is a valid value (name and union are plain bytes).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq for SIOCGIFFLAGS/SIOCSIFFLAGS on our own socket; reading the
    // flags member of the union is what SIOCGIFFLAGS filled in.
    let ret = unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            -1
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req)
        }
    };
    check(ret.into(), "ioctl", || {
        "\"lo\", SIOCGIFFLAGS/SIOCSIFFLAGS IFF_UP".into()
    })
    .map(drop)
}

/// `setns(fd, nstype)`: moves the **calling thread** into the namespace `fd` refers to.
pub fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: `raw` is an open descriptor borrowed for the call; setns reads only its arguments.
    let ret = unsafe { libc::setns(raw, nstype) };
    check(ret.into(), "setns", || format!("fd {raw}, {nstype:#x}")).map(drop)
}

/// `kill(-1, SIGKILL)`. Called by a PID namespace's init (pid 1), it kills every other process
/// of that namespace (never init itself); no other process existing is not an error.
pub fn kill_all_others() -> Result<()> {
    // SAFETY: integer arguments only; the caller is the namespace's init, so -1 reaches only
    // processes of its own PID namespace.
    let ret = unsafe { libc::kill(-1, libc::SIGKILL) };
    match check(ret.into(), "kill", || "-1, SIGKILL".into()) {
        Err(e) if e.errno() == Some(libc::ESRCH) => Ok(()),
        other => other.map(drop),
    }
}
