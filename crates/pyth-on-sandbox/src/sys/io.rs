//! Plain descriptor I/O and process calls of the fork server's native loop
//! ([`crate::fork_server::native`]): reads and writes on borrowed descriptors, `accept4`,
//! `fstat`, closing every descriptor from a number on, reaping with the child's CPU time, and
//! the dumpable flag. Part of [`crate::sys`], under the same rules.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{check, Exit, Result};

/// `read(fd, buf)`, retried on EINTR; 0 is end of file.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize> {
    let raw = fd.as_raw_fd();
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call.
        let ret = unsafe { libc::read(raw, buf.as_mut_ptr().cast(), buf.len()) };
        if ret < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return check(ret as libc::c_long, "read", || format!("{raw}")).map(|n| n as usize);
    }
}

/// `write(fd, ...)` until all of `bytes` is written (retried on EINTR).
pub fn write_all(fd: BorrowedFd<'_>, bytes: &[u8]) -> Result<()> {
    write_all_raw(fd.as_raw_fd(), bytes)
}

/// [`write_all`] to a descriptor known by its number (a forked payload's, put in place by
/// `dup2`, that no value owns): a write to a closed number fails with `EBADF`.
pub fn write_all_raw(raw: RawFd, mut bytes: &[u8]) -> Result<()> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is valid for reads of `bytes.len()` bytes for the whole call.
        let ret = unsafe { libc::write(raw, bytes.as_ptr().cast(), bytes.len()) };
        if ret < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        let n = check(ret as libc::c_long, "write", || format!("{raw}"))?;
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

/// `accept4(listener, NULL, NULL, SOCK_CLOEXEC)`: the next connection, blocking.
pub fn accept(listener: BorrowedFd<'_>) -> Result<OwnedFd> {
    let raw = listener.as_raw_fd();
    // SAFETY: NULL address and length pointers are allowed (the peer's address is not wanted).
    let ret = unsafe {
        libc::accept4(
            raw,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    let fd = check(ret.into(), "accept4", || format!("{raw}"))?;
    // SAFETY: the kernel returned a fresh descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `fstat(fd)`: the device and inode of the file `fd` refers to.
pub fn file_identity(fd: BorrowedFd<'_>) -> Result<(u64, u64)> {
    file_identity_raw(fd.as_raw_fd())
}

/// [`file_identity`] of a descriptor known by its number (see [`write_all_raw`]).
pub fn file_identity_raw(raw: RawFd) -> Result<(u64, u64)> {
    // SAFETY: an all-zero stat is a valid value for the kernel to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is valid for writes of a whole `struct stat` for the call.
    let ret = unsafe { libc::fstat(raw, &mut st) };
    check(ret.into(), "fstat", || format!("{raw}"))?;
    Ok((st.st_dev, st.st_ino))
}

/// `close_range(first, ~0, 0)`: closes every descriptor from `first` on. No live value may own
/// one of them (the caller forgets those it held).
pub fn close_from(first: u32) -> Result<()> {
    // SAFETY: integer arguments only; the caller guarantees no live value owns a descriptor
    // in the range (see above).
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) };
    check(ret, "close_range", || format!("{first}, ~0, 0")).map(drop)
}

/// `wait4(pid, &status, WNOHANG, &usage)`: how the child `pid` ended and the CPU time (user
/// and system) it used, in microseconds; `None` while it runs. Retries on EINTR.
pub fn wait_with_cpu(pid: i32) -> Result<Option<(Exit, u64)>> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is a valid value for the kernel to overwrite.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `status` and `usage` are valid out-pointers for the duration of the call.
        let ret = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if ret < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if check(ret.into(), "wait4", || {
            format!("{pid}, &status, WNOHANG, &usage")
        })? == 0
        {
            return Ok(None);
        }
        let exit = Exit::of_status(status);
        let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        return Ok(Some((exit, us(usage.ru_utime) + us(usage.ru_stime))));
    }
}

/// `prctl(PR_SET_DUMPABLE, 1)`: what an `execve` does for a process whose uid changed, so its
/// `/proc/<pid>` files are its own again (a forked payload never execs).
pub fn set_dumpable() -> Result<()> {
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1 as libc::c_ulong, 0, 0, 0) };
    check(ret.into(), "prctl", || "PR_SET_DUMPABLE, 1".into()).map(drop)
}

/// `sigprocmask(SIG_SETMASK, {})`: no signal blocked.
pub fn unblock_all_signals() -> Result<()> {
    // SAFETY: `set` is initialised by sigemptyset before use; NULL old-set is allowed.
    let ret = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut())
    };
    check(ret.into(), "sigprocmask", || "SIG_SETMASK, {}, NULL".into()).map(drop)
}
