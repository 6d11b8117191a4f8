//! The runner spawner: one long-lived `pyth-on-runner` that forks a fresh runner for each run.
//!
//! Exec'ing `pyth-on-runner` costs every run about a millisecond of CPU more than forking a
//! small process (the exec, the dynamic loader's work, the first touch of the binary's pages;
//! docs/PERFORMANCE.md). A runner started with the single argument [`SPAWNER_ARG`] becomes a
//! spawner instead ([`serve`]). It never reads a job, never holds user data and starts nothing
//! but runners: for each request on its control socket (its stdin, one end of a
//! `SOCK_SEQPACKET` pair whose other end the launcher holds), which carries the new runner's
//! stdin, stdout and stderr, it clones itself with `CLONE_PARENT | CLONE_PIDFD`.
//!
//! - The new runner is a child of the server (the spawner's parent), not of the spawner: the
//!   server waits for it, kills it and is sent its exit signal exactly as for a runner it
//!   exec'd. The answer carries its pid and a pidfd for it.
//! - The new runner puts the three descriptors on 0, 1 and 2, closes every other one (the
//!   control socket included), ties its life to the server's (`PR_SET_PDEATHSIG`, which a fork
//!   does not inherit) and goes on as an exec'd runner would (`main` of `pyth-on-runner`).
//! - What forked runners share with each other is the spawner's memory as it was before any
//!   run: the address-space layout and stack canary of a root process that runs no user code
//!   (docs/SECURITY.md, "The runner spawner").

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::error::SysError;
use crate::sys::{self, Cloned};

/// The argument that makes `pyth-on-runner` a spawner.
pub const SPAWNER_ARG: &str = "spawner";

/// The spawner's first message, once it serves.
const READY: &[u8] = b"ready";

/// A request: one message of these bytes with the new runner's stdin, stdout and stderr.
const SPAWN: &[u8] = b"spawn";

/// What a spawner can go wrong with, seen from either side.
#[derive(Debug, thiserror::Error)]
pub enum SpawnerError {
    /// A system call failed (the control socket, a pipe, the clone).
    #[error(transparent)]
    Sys(#[from] SysError),
    /// The other side closed the control socket.
    #[error("the spawner's control socket is closed")]
    Closed,
    /// The other side said something else than the protocol allows.
    #[error("the spawner answered {0:?}")]
    Refused(String),
}

/// Which process [`serve`] returns in.
#[derive(Debug, PartialEq, Eq)]
pub enum Role {
    /// A freshly forked runner: stdio in place, nothing else open. It must tie its life to
    /// `server` (its parent) and then serve one run as an exec'd runner.
    Runner {
        /// The server's pid: the parent the new runner must still have.
        server: u32,
    },
    /// The spawner itself, once its control socket closed: it exits.
    Finished,
}

/// Serves spawn requests on `control` (the spawner's stdin) until it closes. Returns in the
/// spawner with [`Role::Finished`], and in every runner it forked with [`Role::Runner`].
/// Must be called by a single-threaded process that holds nothing but `control` and its
/// stdio (a runner that has just started): each runner is a copy of it.
pub fn serve(control: OwnedFd) -> Result<Role, SpawnerError> {
    let server = std::os::unix::process::parent_id();
    // Every runner forked below inherits the answer (a failure: each runner reports it).
    // Groups kept by servers that are gone are removed once here: runs in kept groups do not
    // sweep.
    if let Ok(cgroups) = crate::cgroup::detected() {
        let parent = crate::protocol::SandboxOptions::default().cgroup_parent;
        let _ = cgroups.remove_stale(&parent);
    }
    // And this mount namespace, where they find (or build) the runs' skeletons; without it
    // each run builds its whole root.
    let _ = crate::rootfs::skeleton::own_namespace();
    sys::send_with_fds(control.as_fd(), READY, &[])?;
    let mut buf = [0u8; 64];
    loop {
        let (len, fds) = sys::recv_with_fds(control.as_fd(), &mut buf)?;
        if len == 0 && fds.is_empty() {
            return Ok(Role::Finished);
        }
        let stdio = match checked_request(&buf[..len], fds) {
            Ok(stdio) => stdio,
            Err(why) => {
                answer(control.as_fd(), format!("error: {why}").as_bytes(), None)?;
                continue;
            }
        };
        match sys::clone_child(libc::CLONE_PARENT) {
            Ok(Cloned::Child) => {
                become_runner(control, stdio)?;
                return Ok(Role::Runner { server });
            }
            Ok(Cloned::Parent { pid, pidfd }) => {
                let text = format!("ok {pid}");
                if let Err(e) = answer(control.as_fd(), text.as_bytes(), Some(&pidfd)) {
                    // Nobody would know this runner: it goes (the server reaps it, see the
                    // launcher's sweep).
                    let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
                    return Err(e.into());
                }
            }
            Err(e) => answer(control.as_fd(), format!("error: {e}").as_bytes(), None)?,
        }
    }
}

/// The new runner's stdin, stdout and stderr from a request, or why it is not one (its
/// descriptors are then closed).
fn checked_request(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<[OwnedFd; 3], &'static str> {
    if bytes != SPAWN {
        return Err("not a spawn request");
    }
    <[OwnedFd; 3]>::try_from(fds).map_err(|_| "a request carries exactly 3 descriptors")
}

/// One answer, with the new runner's pidfd if any.
fn answer(control: BorrowedFd<'_>, text: &[u8], pidfd: Option<&OwnedFd>) -> Result<(), SysError> {
    let fds: Vec<BorrowedFd<'_>> = pidfd.iter().map(AsFd::as_fd).collect();
    sys::send_with_fds(control, text, &fds)
}

/// In the new runner: stdin, stdout and stderr onto 0, 1 and 2, every other descriptor
/// (`control` included) closed.
fn become_runner(control: OwnedFd, stdio: [OwnedFd; 3]) -> Result<(), SysError> {
    sys::keep_only_stdio(stdio, control)
}

/// The two ends of a new control socket: (the launcher's, non-blocking; the spawner's, to
/// become its stdin).
pub fn control_pair() -> Result<(OwnedFd, OwnedFd), SysError> {
    let (ours, theirs) = sys::seqpacket_pair()?;
    sys::set_nonblocking(ours.as_fd())?;
    Ok((ours, theirs))
}

/// What the spawner says.
#[derive(Debug)]
pub enum Answer {
    /// It serves (its first message).
    Ready,
    /// A runner it forked for the oldest request without an answer: a child of the caller.
    Spawned {
        /// Its pid (stable until the caller reaps it).
        pid: i32,
        /// A pidfd for it: readable once it has exited.
        pidfd: OwnedFd,
    },
}

/// The next answer on the non-blocking `control` (from [`control_pair`]); `None` when there
/// is none yet.
pub fn read_answer(control: BorrowedFd<'_>) -> Result<Option<Answer>, SpawnerError> {
    let mut buf = [0u8; 256];
    let (len, fds) = match sys::recv_with_fds(control, &mut buf) {
        Ok(message) => message,
        Err(e) if e.source.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if len == 0 {
        return Err(SpawnerError::Closed);
    }
    if &buf[..len] == READY && fds.is_empty() {
        return Ok(Some(Answer::Ready));
    }
    let text = lossy(&buf[..len]);
    let pid = text.strip_prefix("ok ").and_then(|p| p.parse::<i32>().ok());
    match (pid, <[OwnedFd; 1]>::try_from(fds)) {
        (Some(pid), Ok([pidfd])) => Ok(Some(Answer::Spawned { pid, pidfd })),
        _ => Err(SpawnerError::Refused(text)),
    }
}

/// The caller's ends of a requested runner's pipes.
#[derive(Debug)]
pub struct Requested {
    /// The write end of its stdin.
    pub stdin: OwnedFd,
    /// The read end of its stdout.
    pub stdout: OwnedFd,
    /// The read end of its stderr.
    pub stderr: OwnedFd,
}

/// Asks the spawner on the other end of `control` for a new runner; its [`Answer::Spawned`]
/// comes through [`read_answer`], in the order of the requests. The caller must be the
/// spawner's parent (the runner becomes its child).
pub fn send_request(control: BorrowedFd<'_>) -> Result<Requested, SpawnerError> {
    let (stdin_r, stdin) = sys::pipe()?;
    let (stdout, stdout_w) = sys::pipe()?;
    let (stderr, stderr_w) = sys::pipe()?;
    let theirs = [stdin_r.as_fd(), stdout_w.as_fd(), stderr_w.as_fd()];
    sys::send_with_fds(control, SPAWN, &theirs)?;
    Ok(Requested {
        stdin,
        stdout,
        stderr,
    })
}

/// Reaps the spawned runner `pid` (the caller's child) if it has exited (`nohang`) or once it
/// does: its raw wait status (as `ExitStatus::from_raw` takes it); `None`: still running.
pub fn reap(pid: i32, nohang: bool) -> Result<Option<i32>, SysError> {
    Ok(sys::waitpid(pid, nohang)?.map(|(_, exit)| match exit {
        sys::Exit::Code(code) => (code & 0xff) << 8,
        sys::Exit::Signal(signal) => signal & 0x7f,
    }))
}

/// Sends SIGKILL to the spawned runner `pid`, a child of the caller it has not reaped yet
/// (when its pidfd is gone).
pub fn kill_child(pid: i32) -> Result<(), SysError> {
    sys::kill_child(pid)
}

/// Sends SIGKILL through `pidfd` (nothing happens to a process that has exited already).
pub fn kill(pidfd: BorrowedFd<'_>) -> Result<(), SysError> {
    sys::pidfd_send_signal(pidfd, libc::SIGKILL)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipes(n: usize) -> Vec<OwnedFd> {
        (0..n).map(|_| sys::pipe().unwrap().0).collect()
    }

    #[test]
    fn a_request_is_the_word_spawn_with_exactly_three_descriptors() {
        assert!(checked_request(SPAWN, pipes(3)).is_ok());
        for n in [0, 1, 2, 4] {
            let err = checked_request(SPAWN, pipes(n)).unwrap_err();
            assert!(err.contains("exactly 3"), "{n}: {err}");
        }
        assert!(checked_request(b"spawn please", pipes(3)).is_err());
        assert!(checked_request(b"", pipes(3)).is_err());
    }
}
