//! Descriptors over Unix sockets and child-exit notification: what the fork server's requests
//! ([`crate::fork_server`]) and its sandboxes' init need. Part of [`crate::sys`], under the
//! same rules.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

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

/// A Unix stream socket (close-on-exec) connected to the abstract address `name`, waiting at
/// most `timeout` for room in the listener's backlog (`SO_SNDTIMEO`, which also bounds every
/// later send on it): a listener that stopped accepting fails the connect with `EAGAIN`
/// instead of blocking the caller for good.
pub fn connect_abstract(name: &[u8], timeout: Duration) -> Result<OwnedFd> {
    // SAFETY: an all-zero sockaddr_un is valid; the name is copied within its bounds below.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if name.is_empty() || name.len() >= addr.sun_path.len() {
        return Err(super::SysError::from_io(
            "connect",
            "abstract socket name".into(),
            std::io::Error::from_raw_os_error(libc::ENAMETOOLONG),
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (slot, byte) in addr.sun_path[1..].iter_mut().zip(name) {
        *slot = *byte as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + 1 + name.len();
    // SAFETY: plain socket(2); the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    let fd = check(fd.into(), "socket", || "AF_UNIX".into())?;
    // SAFETY: the kernel returned a fresh descriptor that nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    set_timeout(sock.as_fd(), libc::SO_SNDTIMEO, timeout)?;
    // SAFETY: `addr` is an initialised sockaddr_un and `len` covers only its set bytes.
    let ret = unsafe {
        libc::connect(
            fd as RawFd,
            (&addr as *const libc::sockaddr_un).cast(),
            len as libc::socklen_t,
        )
    };
    check(ret.into(), "connect", || "abstract Unix socket".into())?;
    Ok(sock)
}

/// `setsockopt(sock, SOL_SOCKET, which, timeout)` for `SO_SNDTIMEO` or `SO_RCVTIMEO`: a send
/// or receive on `sock` that waits longer fails with `EAGAIN`.
pub fn set_timeout(sock: BorrowedFd<'_>, which: libc::c_int, timeout: Duration) -> Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: libc::suseconds_t::from(timeout.subsec_micros()),
    };
    let raw = sock.as_raw_fd();
    // SAFETY: `tv` is a valid timeval for the length given.
    let ret = unsafe {
        libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            which,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    check(ret.into(), "setsockopt", || {
        format!("{raw}, timeout {which}")
    })
    .map(drop)
}

/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`: two connected ends that keep message
/// boundaries (one `recvmsg` reads one whole message with its descriptors).
pub fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    let kind = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    let ret = unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) };
    check(ret.into(), "socketpair", || {
        "AF_UNIX, SOCK_SEQPACKET".into()
    })?;
    // SAFETY: the kernel returned two fresh descriptors that nobody else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `recvmsg(sock, MSG_CMSG_CLOEXEC)`: one message into `buf` and the descriptors it carried
/// (close-on-exec, at most [`MAX_FDS`]). `(0, [])` is the other end's close. A message or
/// descriptor list that did not fit is an error (its descriptors are closed).
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(usize, Vec<OwnedFd>)> {
    // SAFETY: CMSG_SPACE only computes a size from its integer argument.
    let space = unsafe { libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<RawFd>()) as u32) };
    let mut control = vec![0u64; (space as usize).div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is a valid empty message; the fields are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as usize;
    let raw = sock.as_raw_fd();
    let ret = loop {
        // SAFETY: `msg` points at `iov` (over `buf`) and `control`, which outlive the call and
        // have the lengths given.
        let ret = unsafe { libc::recvmsg(raw, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if ret >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break ret;
        }
    };
    let len = check(ret as libc::c_long, "recvmsg", || format!("socket {raw}"))? as usize;
    let fds = received_fds(&msg);
    if msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
        return Err(super::SysError::from_io(
            "recvmsg",
            format!("socket {raw}: message or descriptors truncated"),
            std::io::Error::from_raw_os_error(libc::EMSGSIZE),
        ));
    }
    Ok((len, fds))
}

/// The descriptors of every `SCM_RIGHTS` header of a message `recvmsg` filled.
fn received_fds(msg: &libc::msghdr) -> Vec<OwnedFd> {
    let mut fds = Vec::new();
    // SAFETY: `msg` was filled by recvmsg, so the CMSG_* walk stays within its control
    // buffer; each SCM_RIGHTS header's data holds (len - CMSG_LEN(0)) / 4 descriptors that
    // the kernel installed for us and nobody else owns.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..bytes / std::mem::size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    fds
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

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};
    use std::time::Instant;

    use super::*;

    fn listener(name: &str) -> UnixListener {
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(name).unwrap()).unwrap()
    }

    #[test]
    fn a_connect_reaches_a_listening_abstract_socket() {
        let name = format!("pyth-on-test-connect-{}", std::process::id());
        let l = listener(&name);
        let sock = connect_abstract(name.as_bytes(), Duration::from_secs(1)).unwrap();
        let (_, peer) = l.accept().unwrap();
        assert!(peer.as_abstract_name().is_none()); // the connecting end is unnamed
        let (_, uid) = peer_credentials(sock.as_fd()).unwrap();
        assert_eq!(uid, own_uid());
    }

    #[test]
    fn a_connect_to_a_listener_that_never_accepts_gives_up_after_the_timeout() {
        let name = format!("pyth-on-test-backlog-{}", std::process::id());
        let _l = listener(&name);
        let timeout = Duration::from_millis(100);
        let mut held = Vec::new();
        for _ in 0..100_000 {
            let t = Instant::now();
            match connect_abstract(name.as_bytes(), timeout) {
                Ok(sock) => held.push(sock),
                Err(e) => {
                    assert!(t.elapsed() >= timeout / 2, "{e} after {:?}", t.elapsed());
                    assert!(e.to_string().contains("connect"), "{e}");
                    return;
                }
            }
        }
        panic!("the backlog never filled ({} connections)", held.len());
    }

    #[test]
    fn an_empty_or_overlong_name_is_refused() {
        assert!(connect_abstract(b"", Duration::from_secs(1)).is_err());
        assert!(connect_abstract(&[b'x'; 200], Duration::from_secs(1)).is_err());
    }

    #[test]
    fn a_message_and_its_descriptors_arrive_whole_on_a_seqpacket_pair() {
        let (a, b) = seqpacket_pair().unwrap();
        let (r, w) = super::super::pipe().unwrap();
        send_with_fds(a.as_fd(), b"two", &[r.as_fd(), w.as_fd()]).unwrap();
        send_with_fds(a.as_fd(), b"none", &[]).unwrap();
        let mut buf = [0u8; 16];
        let (len, fds) = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!((&buf[..len], fds.len()), (&b"two"[..], 2));
        // Close-on-exec from the moment they exist (MSG_CMSG_CLOEXEC): no process exec'd
        // meanwhile by another thread inherits them.
        for fd in &fds {
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()));
            let flags = info.unwrap();
            let flags = flags
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .unwrap();
            let flags = u32::from_str_radix(flags.trim(), 8).unwrap();
            assert_ne!(flags & libc::O_CLOEXEC as u32, 0, "fd {}", fd.as_raw_fd());
        }
        // The received write end feeds the original read end.
        let sent = write_to(&fds[1], b"x");
        assert_eq!(sent, 1);
        let (len, fds) = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!((&buf[..len], fds.len()), (&b"none"[..], 0));
        drop(a);
        let (len, fds) = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!((len, fds.len()), (0, 0), "the other end's close");
    }

    #[test]
    fn a_message_longer_than_the_buffer_is_an_error_not_a_silent_cut() {
        let (a, b) = seqpacket_pair().unwrap();
        send_with_fds(a.as_fd(), b"a longer message", &[]).unwrap();
        let mut buf = [0u8; 4];
        assert!(recv_with_fds(b.as_fd(), &mut buf).is_err());
    }

    #[test]
    fn a_receive_timeout_ends_a_wait_for_a_message_that_never_comes() {
        let (_a, b) = seqpacket_pair().unwrap();
        set_timeout(b.as_fd(), libc::SO_RCVTIMEO, Duration::from_millis(50)).unwrap();
        let started = Instant::now();
        assert!(recv_with_fds(b.as_fd(), &mut [0u8; 8]).is_err());
        assert!(started.elapsed() >= Duration::from_millis(40));
    }

    fn write_to(fd: &OwnedFd, bytes: &[u8]) -> usize {
        use std::io::Write;
        std::fs::File::from(fd.try_clone().unwrap())
            .write(bytes)
            .unwrap()
    }

    /// This process's uid, from /proc.
    fn own_uid() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}
