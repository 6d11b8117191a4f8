//! The fork server's serving loop, in native code that the Python fork server calls once
//! (through `libpyth_on_zygote.so`, the `pyth-on-zygote` crate) and that returns only when the
//! server retired it or, in a forked payload, once that payload is isolated.
//!
//! Why native: after each fork, every page the fork server writes is copied again while the
//! payload lives, and every page the payload writes is copied once. Python writes to every
//! object it touches (reference counts), so the same loop in Python cost the fork server
//! about 120 copied pages per request, and the payload's set-up in Python about 190 more
//! (docs/PERFORMANCE.md). Here the loop touches a few pages of its own stack and heap, and the
//! payload enters its sandbox ([`super::payload`]) before any Python code runs in it.
//!
//! Protocol (the runner's side is [`super::request`]): a root process (`SO_PEERCRED`) connects
//! to the abstract socket, sends one line of seven space-separated fields (uid, gid, nofile,
//! fsize, CPU seconds, cgroup file count, the program's path) with init's pidfd, the payload's
//! eight pipe ends and the cgroup files; the answer is `ok` once the payload is forked, or
//! `error ...`. When a payload ends, its exit status and CPU time go to init on the exit pipe.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use super::payload::{self, Placed};
use super::request::{Request, EXIT_PIPE, MAX_REQUEST, PIPES};
use crate::error::SandboxError;
use crate::{seccomp, sys};

/// How long an accepted connection may wait for its request, and each read and write on it.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(5);

/// How long the loop leaves the listener alone after `accept` failed for want of a resource
/// (descriptors, memory): the connection stays queued and the listener readable, so without
/// a pause the loop would spin on it, a CPU taken from the runs. Payloads' ends and pending
/// requests are still served meanwhile.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// Connections accepted and waiting for their request, at most: past it the listener is left
/// alone (the kernel's backlog holds the next ones), so connections that send nothing cannot
/// take every descriptor of the fork server.
const MAX_PENDING: usize = 64;

/// How [`serve`] returned.
#[derive(Debug)]
pub enum Served {
    /// The server closed the fork server's stdin and every payload's end was reported: the
    /// fork server exits.
    Retired,
    /// This is a forked payload, isolated in its sandbox: the Python side goes on with it.
    Payload(Placed),
}

/// A payload still running: watched by its pidfd; its end goes to init on `exit`.
#[derive(Debug)]
struct Child {
    pid: i32,
    pidfd: OwnedFd,
    exit: OwnedFd,
}

/// What the interpreter the loop runs in does around each fork (`os.fork`'s steps: its locks
/// taken before, released after in the parent; the child's step is the caller's, once
/// [`serve`] returns [`Served::Payload`]).
pub struct ForkHooks<'a> {
    /// Just before each `fork` (`PyOS_BeforeFork`).
    pub before: &'a dyn Fn(),
    /// In the fork server, just after (`PyOS_AfterFork_Parent`).
    pub parent: &'a dyn Fn(),
}

impl std::fmt::Debug for ForkHooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForkHooks").finish_non_exhaustive()
    }
}

/// What every request needs of the fork server.
struct Own<'a> {
    pid_ns: BorrowedFd<'a>,
    pid_ns_ino: u64,
    policy: seccomp::Policy,
    hooks: ForkHooks<'a>,
}

/// Serves requests on `listener` until stdin (the server's pipe) ends and every payload's end
/// was reported; the listener is closed as soon as stdin ends (a runner that still connects is
/// refused at once). `own_pid_ns` is the fork server's PID namespace, returned to after each
/// fork.
pub fn serve(
    listener: OwnedFd,
    own_pid_ns: BorrowedFd<'_>,
    hooks: ForkHooks<'_>,
) -> Result<Served, SandboxError> {
    let own = Own {
        pid_ns: own_pid_ns,
        pid_ns_ino: sys::file_identity(own_pid_ns)?.1,
        policy: seccomp::build()?,
        hooks,
    };
    let stdin = std::io::stdin();
    let mut state = Serving {
        listener: Some(listener),
        pending: Vec::new(),
        children: Vec::new(),
        accept_paused_until: None,
    };
    while state.listener.is_some() || !state.children.is_empty() {
        let mut fds = state.poll_set(stdin.as_fd());
        sys::poll(&mut fds, state.timeout_ms())?;
        if let Some(placed) = state.handle(&fds, stdin.as_fd(), &own) {
            state.forget_in_payload();
            return Ok(Served::Payload(placed));
        }
    }
    Ok(Served::Retired)
}

/// A connection accepted whose request has not arrived yet: served once it is readable, so
/// that a runner slow to send (descheduled between its `connect` and its `sendmsg`) holds up
/// no other; answered with an error past its deadline.
struct Pending {
    conn: OwnedFd,
    deadline: Instant,
}

/// What the loop holds between two polls.
struct Serving {
    /// Closed once stdin ends.
    listener: Option<OwnedFd>,
    pending: Vec<Pending>,
    children: Vec<Child>,
    /// Set when `accept` failed for want of a resource ([`ACCEPT_BACKOFF`]); once past, it
    /// no longer counts.
    accept_paused_until: Option<Instant>,
}

impl Serving {
    /// stdin and the listener (while open; the listener as -1, which `poll` skips, while
    /// accepting is paused or [`MAX_PENDING`] wait), then the pending connections, then the
    /// payloads.
    fn poll_set(&self, stdin: BorrowedFd<'_>) -> Vec<libc::pollfd> {
        let mut fds = Vec::with_capacity(self.pending.len() + self.children.len() + 2);
        if let Some(open) = &self.listener {
            fds.push(pollin(stdin));
            let mut listener = pollin(open.as_fd());
            if self.pending.len() >= MAX_PENDING || self.accept_paused(Instant::now()) {
                listener.fd = -1;
            }
            fds.push(listener);
        }
        fds.extend(self.pending.iter().map(|p| pollin(p.conn.as_fd())));
        fds.extend(self.children.iter().map(|c| pollin(c.pidfd.as_fd())));
        fds
    }

    /// Until the first pending connection's deadline or the end of a pause in accepting (-1:
    /// neither).
    fn timeout_ms(&self) -> i32 {
        let now = Instant::now();
        self.pending
            .iter()
            .map(|p| p.deadline)
            .chain(self.accept_paused_until.filter(|until| *until > now))
            .map(|at| at.saturating_duration_since(now).as_millis() + 1)
            .min()
            .map_or(-1, |ms| i32::try_from(ms).unwrap_or(i32::MAX))
    }

    fn accept_paused(&self, now: Instant) -> bool {
        self.accept_paused_until.is_some_and(|until| until > now)
    }

    /// Acts on what the poll of [`Self::poll_set`] found: `Some` in a forked payload.
    fn handle(
        &mut self,
        fds: &[libc::pollfd],
        stdin: BorrowedFd<'_>,
        own: &Own<'_>,
    ) -> Option<Placed> {
        let head = if self.listener.is_some() { 2 } else { 0 };
        let ready = |from: usize, count: usize| -> Vec<usize> {
            (0..count).filter(|i| fds[from + i].revents != 0).collect()
        };
        let readable = ready(head, self.pending.len());
        let ended = ready(head + self.pending.len(), self.children.len());
        for index in ended.into_iter().rev() {
            if reported(&self.children[index]) {
                self.children.swap_remove(index);
            }
        }
        for index in readable.into_iter().rev() {
            let conn = self.pending.swap_remove(index).conn;
            if let Some(placed) = serve_one(conn, own, &mut self.children) {
                return Some(placed);
            }
        }
        self.expire();
        if head == 2 {
            if fds[0].revents != 0 && !more_from(stdin) {
                // Retired: queued and pending runners see their connection close.
                self.listener = None;
                self.pending.clear();
            } else if fds[1].revents != 0 {
                self.accept();
            }
        }
        None
    }

    /// Takes the next connection as pending if it is root's; another user's is refused at
    /// once (it never holds a descriptor of the fork server for longer).
    fn accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        match sys::accept(listener.as_fd()) {
            Ok(conn) => {
                if matches!(sys::peer_credentials(conn.as_fd()), Ok((_, 0))) {
                    let deadline = Instant::now() + CONNECTION_DEADLINE;
                    self.pending.push(Pending { conn, deadline });
                } else {
                    // A new connection's buffer is empty: this short write cannot block.
                    let _ =
                        sys::write_all(conn.as_fd(), b"error requests are taken from root only\n");
                }
            }
            Err(e) => {
                let short = [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM];
                if e.errno().is_some_and(|n| short.contains(&n)) {
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                }
            }
        }
    }

    /// Answers and closes the pending connections past their deadline.
    fn expire(&mut self) {
        let now = Instant::now();
        self.pending.retain(|p| {
            let waiting = p.deadline > now;
            if !waiting {
                let answer = format!("error no request within {CONNECTION_DEADLINE:?}\n");
                let _ = sys::write_all(p.conn.as_fd(), answer.as_bytes());
            }
            waiting
        });
    }

    /// In a payload the fork server's descriptors are closed already (`close_range`), and
    /// their numbers may be the payload's own by now: let go without a `close`.
    fn forget_in_payload(self) {
        use std::os::fd::IntoRawFd;
        let _ = self.listener.map(IntoRawFd::into_raw_fd);
        for pending in self.pending {
            let _ = pending.conn.into_raw_fd();
        }
        for child in self.children {
            let _ = (child.pidfd.into_raw_fd(), child.exit.into_raw_fd());
        }
    }
}

fn pollin(fd: BorrowedFd<'_>) -> libc::pollfd {
    use std::os::fd::AsRawFd;
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Whether the server's pipe is still open (data on it means nothing and is dropped).
fn more_from(stdin: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 4096];
    matches!(sys::read(stdin, &mut buf), Ok(n) if n > 0)
}

/// Serves the request on `conn` (readable): `Some` in the forked payload (isolated), `None`
/// in the fork server.
fn serve_one(conn: OwnedFd, own: &Own<'_>, children: &mut Vec<Child>) -> Option<Placed> {
    let mut received = Vec::new();
    let answer = match fork_payload(conn.as_fd(), own, &mut received) {
        Ok(Forked::Payload(placed)) => {
            // Their numbers are the payload's own descriptors now: never closed again here.
            std::mem::forget(received);
            std::mem::forget(conn);
            return Some(placed);
        }
        Ok(Forked::Server(child)) => {
            children.push(child);
            "ok\n".to_string()
        }
        Err(e) => format!("error {e}\n"),
    };
    let _ = sys::write_all(conn.as_fd(), answer.as_bytes());
    None
}

/// Which side of a fork this is.
enum Forked {
    Payload(Placed),
    Server(Child),
}

/// Reads and checks a request, forks its payload into the sandbox's PID namespace and returns
/// to the fork server's own.
fn fork_payload(
    conn: BorrowedFd<'_>,
    own: &Own<'_>,
    received: &mut Vec<OwnedFd>,
) -> Result<Forked, String> {
    let text = |e: crate::error::SysError| e.to_string();
    sys::set_timeout(conn, libc::SO_RCVTIMEO, CONNECTION_DEADLINE).map_err(text)?;
    sys::set_timeout(conn, libc::SO_SNDTIMEO, CONNECTION_DEADLINE).map_err(text)?;
    // Only root's connections get this far (`Serving::accept`).
    let mut buf = [0u8; MAX_REQUEST];
    let (len, fds) = sys::recv_with_fds(conn, &mut buf).map_err(text)?;
    *received = fds;
    if len == MAX_REQUEST {
        // A stream socket cuts a longer message without a word: refused whole.
        return Err(format!("a request is {MAX_REQUEST} bytes or longer"));
    }
    let request = Request::parse(&buf[..len])?;
    if received.len() != PIPES + 1 + request.cgroups {
        let (n, c) = (received.len(), request.cgroups);
        return Err(format!("{n} descriptors for {c} cgroups"));
    }
    // Children from now on are born in the sandbox's PID namespace (this process stays in its
    // own); the payload enters the other namespaces itself.
    // The interpreter's before-fork step while children are still born in the server's own
    // PID namespace (a hook that started a process would start it there, not in the sandbox).
    (own.hooks.before)();
    if let Err(e) = sys::setns(received[0].as_fd(), libc::CLONE_NEWPID) {
        (own.hooks.parent)();
        return Err(text(e));
    }
    let forked = fork_in_sandbox(own);
    if matches!(forked, Ok(0)) {
        return Ok(Forked::Payload(payload::enter(
            &request,
            received,
            &own.policy,
        )));
    }
    if sys::setns(own.pid_ns, libc::CLONE_NEWPID).is_err() {
        // Every later child would be born in that sandbox: stop serving at once.
        sys::exit_now(70);
    }
    (own.hooks.parent)();
    let pid = forked?;
    watch(pid, received).map(Forked::Server)
}

/// Forks, once the PID namespace for children is checked to be another than the server's.
fn fork_in_sandbox(own: &Own<'_>) -> Result<i32, String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/self/ns/pid_for_children").map_err(|e| e.to_string())?;
    if meta.ino() == own.pid_ns_ino {
        return Err("the sandbox must have a PID namespace of its own".into());
    }
    sys::fork().map_err(|e| e.to_string())
}

/// The forked payload to watch: its pidfd and a copy of the exit pipe's write end. A payload
/// that cannot be watched is killed and reaped (it would never be reported).
fn watch(pid: i32, received: &[OwnedFd]) -> Result<Child, String> {
    let watched = sys::pidfd_open(pid).and_then(|pidfd| {
        let exit = sys::dup_above(received[EXIT_PIPE].as_fd(), 0)?;
        Ok(Child { pid, pidfd, exit })
    });
    watched.map_err(|e| {
        let _ = sys::kill_child(pid);
        let _ = sys::waitpid(pid, false);
        e.to_string()
    })
}

/// If the payload ended (its pidfd said so; reaped without waiting), its CPU time and exit
/// status go to its sandbox's init (gone already if it was killed at the deadline: nothing to
/// tell then), and it is done with.
fn reported(child: &Child) -> bool {
    let (exit, cpu_us) = match sys::wait_with_cpu(child.pid) {
        Ok(Some(ended)) => ended,
        Ok(None) => return false,
        Err(_) => return true, // not a child of this process (any more): nothing to wait for
    };
    let word = match exit {
        sys::Exit::Code(code) => format!("code {code}"),
        sys::Exit::Signal(sig) => format!("signal {sig}"),
    };
    let report = format!("cpu_us {cpu_us}\n{word}\n");
    let _ = sys::write_all(child.exit.as_fd(), report.as_bytes());
    true
}
