//! Descriptors over Unix sockets and child-exit notification: what the fork server's requests
//! ([`crate::fork_server`]) and its sandboxes' init need. Part of [`crate::sys`], under the
//! same rules.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{check, Result};

/// `sendmsg(sock, data, SCM_RIGHTS fds)`: one message carrying `data` and a copy of every
/// descriptor of `fds` (at most [`MAX_FDS`]). A short write is an error (the message is small:
/// a stream socket takes it whole).
pub fn send_with_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
    let raw_fds: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    if raw_fds.len() > MAX_FDS {
        return Err(super::SysError::from_io(
            "sendmsg",
            format!("{} descriptors", raw_fds.len()),
            std::io::Error::from_raw_os_error(libc::EINVAL),
        ));
    }
    let payload = std::mem::size_of_val(raw_fds.as_slice());
    // SAFETY: CMSG_SPACE only computes a size from its integer argument.
    let space = unsafe { libc::CMSG_SPACE(payload as u32) } as usize;
    // u64 elements: the control buffer must be aligned for `cmsghdr`.
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is a valid empty message; the fields are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: `msg` points at `control`, which holds CMSG_SPACE(payload) bytes, so the first
    // header and its data (CMSG_LEN(payload) bytes) fit; the copy writes exactly `payload`
    // bytes from `raw_fds`, which lives until the end of the function.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(payload as u32) as usize;
        std::ptr::copy_nonoverlapping(
            raw_fds.as_ptr().cast::<u8>(),
            libc::CMSG_DATA(cmsg),
            payload,
        );
    }
    let raw = sock.as_raw_fd();
    // SAFETY: `msg` and everything it points to (`iov` over `data`, `control`) outlive the
    // call; the kernel only reads them.
    let ret = unsafe { libc::sendmsg(raw, &msg, libc::MSG_NOSIGNAL) };
    let sent = check(ret as libc::c_long, "sendmsg", || format!("socket {raw}"))?;
    if sent as usize != data.len() {
        return Err(super::SysError::from_io(
            "sendmsg",
            format!("socket {raw}: {sent} of {} bytes", data.len()),
            std::io::Error::from_raw_os_error(libc::EMSGSIZE),
        ));
    }
    Ok(())
}

/// The most descriptors [`send_with_fds`] sends in one message.
pub const MAX_FDS: usize = 32;

/// `getsockopt(sock, SOL_SOCKET, SO_PEERCRED)`: the pid and uid of the process that created
/// the other end of a connected Unix socket (as the kernel recorded them, not as claimed).
pub fn peer_credentials(sock: BorrowedFd<'_>) -> Result<(i32, u32)> {
    // SAFETY: an all-zero ucred is a valid value for the kernel to overwrite.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    let raw = sock.as_raw_fd();
    // SAFETY: `cred` and `len` are valid for writes of the sizes given for the whole call.
    let ret = unsafe {
        libc::getsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    check(ret.into(), "getsockopt", || format!("{raw}, SO_PEERCRED"))?;
    Ok((cred.pid, cred.uid))
}

/// Blocks `SIGCHLD` for the calling thread and returns a `signalfd` (close-on-exec) that
/// becomes readable when a child changes state: a way to wait for orphans and a pipe at once
/// with `poll`. A process started later inherits the mask: only for a process that starts
/// nothing (a fork server's sandbox init).
pub fn child_signal_fd() -> Result<OwnedFd> {
    // SAFETY: `set` is a local sigset_t initialised by sigemptyset before use; the calls only
    // read or write it and this thread's signal mask.
    let fd = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        let ret = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if ret != 0 {
            return Err(super::SysError::from_io(
                "pthread_sigmask",
                "SIG_BLOCK SIGCHLD".into(),
                std::io::Error::from_raw_os_error(ret),
            ));
        }
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK)
    };
    let fd = check(fd.into(), "signalfd", || "SIGCHLD".into())?;
    // SAFETY: the kernel returned a fresh descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}
