//! Network namespaces made ahead of time and reused only when a run left no trace in them.
//!
//! A new network namespace is the dearest part of a fresh sandbox (about 1 ms of CPU to make
//! and, in a kernel worker, to destroy: mostly `sysctl` tables and the loopback device), and
//! a run that never touched the network leaves it exactly as it found it. So the launcher
//! keeps a [`NetnsPool`]: a thread of its own (the *keeper*) makes namespaces (loopback up,
//! like a run's own) and records what the kernel shows of each when new (its [`Trace`]). A
//! run leases one ([`NetnsLease`]): its init enters it with `setns` instead of cloning a new
//! one. Only one run holds a namespace at a time, and only while its runner lives.
//!
//! When the run's runner has exited cleanly (its result sent, its sandbox torn down: init
//! reaped, so every process of the run is gone, and its cgroup empty and removed), the lease
//! is given back ([`NetnsLease::give_back`]); after a [`QUARANTINE`] (a multicast report
//! leaves from a timer after the run) the keeper reads the namespace's trace again. It goes
//! back to the pool only if the trace is the same as when the namespace was new: every packet
//! counter (`dev`, `snmp`, `snmp6`, `netstat`), every socket still open or in `TIME_WAIT`
//! (`protocols`, `sockstat`, `sockstat6`), IPv6 flow labels (`ip6_flowlabel`) and routes
//! (`rt6_stats`, `ipv6_route`; each CPU's route to `::1` is made before the trace is taken).
//! Anything else (a connection on loopback, a packet sent or refused, a socket kept alive in
//! flight) and the namespace is closed and destroyed like a fresh one would have been. The
//! next run in it then sees what a new namespace shows. A lease dropped without being given
//! back (the runner was killed, died, or failed its teardown) is always destroyed.
//!
//! Each namespace keeps the files of its trace open from the moment it is made
//! ([`TRACE_FILES`] descriptors besides its own, and their read buffers: about 57 KiB of kernel
//! memory): a check then reads each file again from its start, without `setns` or a path
//! lookup (0.10-0.11 ms of CPU instead of 0.19-0.23 here: `print_trace_cost`). Each open file
//! keeps the namespace alive too; they are closed with it. Under a low hard descriptor limit
//! the pool owns fewer namespaces ([`most_within_descriptor_limit`]).
//!
//! The fields the comparison leaves out are the kernel's global counters that every namespace
//! shows alike (the memory of all TCP and UDP sockets of the machine, orphaned and allocated
//! TCP sockets), so they carry nothing of one run in particular. docs/SECURITY.md has the
//! argument.

use std::collections::VecDeque;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use trace::{Trace, TRACE_FILES};

use crate::error::SysError;
use crate::sys;

mod trace;

use trace::TraceFiles;

/// Where a run's init finds the network namespace leased to it: a descriptor of the
/// launcher's, by its `/proc` path, and the namespace's inode (checked once opened).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetnsRef {
    /// `/proc/<launcher pid>/fd/<n>`.
    pub path: PathBuf,
    /// The namespace's inode number (`/proc/self/ns/net` of a process in it).
    pub inode: u64,
}

/// How long a given-back namespace waits before its check: a multicast join or leave sends its
/// report from a kernel timer (about 10-20 ms later; repeats follow only a first one), so a
/// run that joined a group just before it ended shows it only then.
pub const QUARANTINE: Duration = Duration::from_secs(1);

/// Descriptors the pool holds for each namespace it owns: the namespace's own and the files of
/// its trace.
pub const DESCRIPTORS_PER_NETNS: usize = 1 + TRACE_FILES;

impl PoolSizes {
    /// `ready` namespaces ready and room for `quarantined` given back, as far as this
    /// process's share of the descriptor limit holds ([`most_within_descriptor_limit`]);
    /// `None` if it does not hold one.
    pub fn within_descriptor_limit(ready: usize, quarantined: usize) -> Option<Self> {
        let most = most_within_descriptor_limit();
        let ready = ready.min(most);
        (most > 0).then_some(Self {
            ready,
            max: (ready + quarantined).min(most),
        })
    }
}

/// The most namespaces a pool may own under this process's hard descriptor limit
/// (unbounded if unlimited or unreadable). The server keeps back for all but client
/// connections at least a quarter of its limit or 4544, whichever is less (3520 of that for a
/// full pool of 320): the pool takes that quarter less 1024 for the rest, or an eighth of the
/// limit when that is more, so on a host with a low limit it cannot starve `accept`.
pub fn most_within_descriptor_limit() -> usize {
    most_within(sys::descriptor_hard_limit().unwrap_or(None))
}

fn most_within(hard: Option<u64>) -> usize {
    hard.map_or(usize::MAX, |hard| {
        let share = (hard / 8).max((hard / 4).saturating_sub(1024));
        usize::try_from(share).unwrap_or(usize::MAX) / DESCRIPTORS_PER_NETNS
    })
}

/// One namespace the pool owns, with the files of its trace, and its trace when new.
#[derive(Debug)]
struct Netns {
    fd: OwnedFd,
    inode: u64,
    files: TraceFiles,
    fresh: Trace,
}

impl Netns {
    /// Makes a namespace on the calling (keeper) thread, then returns the thread to `home`.
    fn create(loopback: bool, home: &OwnedFd) -> Result<Self, SysError> {
        sys::unshare(libc::CLONE_NEWNET)?;
        let made = Self::open_current(loopback);
        sys::setns(home.as_fd(), libc::CLONE_NEWNET)?;
        made
    }

    fn open_current(loopback: bool) -> Result<Self, SysError> {
        if loopback {
            sys::loopback_up()?;
            // Each CPU's copy of the route to `::1` exists from the first IPv6 lookup on that
            // CPU on (`getaddrinfo("localhost")` makes one) and is never dropped: made here, so
            // that such a lookup leaves the namespace as it was.
            sys::on_each_cpu(|| {
                if let Ok(udp) = std::net::UdpSocket::bind("[::1]:0") {
                    let _ = udp.connect("[::1]:9");
                }
            })?;
        }
        let (fd, inode) = open_own_netns()?;
        let files = TraceFiles::open_current()?;
        let fresh = files.read()?;
        Ok(Self {
            fd,
            inode,
            files,
            fresh,
        })
    }

    /// Whether the namespace shows what it showed when new.
    fn is_pristine(&self) -> Result<bool, SysError> {
        Ok(self.files.read()? == self.fresh)
    }
}

fn open_own_netns() -> Result<(OwnedFd, u64), SysError> {
    open_with_inode(Path::new("/proc/thread-self/ns/net"))
}

/// Opens the namespace `r` names (in a runner, before init is cloned) and checks that it is
/// the one the launcher leased.
pub fn open(r: &NetnsRef) -> Result<OwnedFd, SysError> {
    let (fd, inode) = open_with_inode(&r.path)?;
    if inode != r.inode {
        let e = std::io::Error::other(format!("namespace inode {inode}, leased {}", r.inode));
        return Err(SysError::from_io("check", r.path.display().to_string(), e));
    }
    Ok(fd)
}

/// Opens a namespace file and reads its inode number.
fn open_with_inode(path: &Path) -> Result<(OwnedFd, u64), SysError> {
    let name = || path.display().to_string();
    let file = File::open(path).map_err(|e| SysError::from_io("open", name(), e))?;
    let meta = file.metadata();
    let inode = meta
        .map_err(|e| SysError::from_io("fstat", name(), e))?
        .ino();
    Ok((OwnedFd::from(file), inode))
}

/// How the pool has fared (for tests and the operator's metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetnsStats {
    /// Namespaces the keeper made.
    pub created: u64,
    /// Leases given back and found pristine (the namespace went back to the pool).
    pub reused: u64,
    /// Leases destroyed: not given back, found with a trace, or past the pool's size.
    pub destroyed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    created: AtomicU64,
    reused: AtomicU64,
    destroyed: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    keeper: Mutex<mpsc::Sender<Work>>,
    sizes: PoolSizes,
    counters: Counters,
}

/// How many namespaces a pool keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSizes {
    /// Ready to lease: the keeper makes new ones while fewer are ready (and the pool owns
    /// fewer than `max`).
    pub ready: usize,
    /// Most the pool owns at once: ready, leased, and given back but not yet checked (a
    /// second of runs: [`QUARANTINE`]). While it owns that many, it makes no more, and runs
    /// that find none ready make their own.
    pub max: usize,
}

#[derive(Debug, Default)]
struct State {
    ready: Vec<Netns>,
    /// Leased, or given back and not yet checked.
    out: usize,
}

impl State {
    fn owned(&self) -> usize {
        self.ready.len() + self.out
    }
}

enum Work {
    Refill,
    Check(Netns),
}

/// Namespaces to lease: the keeper thread makes them until the pool owns `size` (ready and
/// leased together), so that in steady state each run takes one a finished run gave back.
/// Cheap to clone; the keeper ends when the pool and every lease are gone.
#[derive(Debug, Clone)]
pub struct NetnsPool(Arc<Shared>);

impl NetnsPool {
    /// Starts the keeper, which makes `sizes.ready` namespaces at once (with loopback up if
    /// `loopback`). Needs root; without it the pool stays empty and every run gets a new
    /// namespace of its own, as without a pool.
    pub fn start(sizes: PoolSizes, loopback: bool) -> Result<Self, SysError> {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            keeper: Mutex::new(tx),
            sizes,
            counters: Counters::default(),
        });
        let (home, _) = open_own_netns()?;
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("netns-keeper".into())
            .spawn(move || {
                // Background work, like a refill: it yields the CPUs to runs in progress.
                let _ = sys::set_nice(0, crate::priority::PREPARE_NICE);
                keep(&weak, &rx, &home, loopback);
            })
            .map_err(|e| SysError::from_io("spawn", "netns keeper thread".into(), e))?;
        shared.send(Work::Refill);
        Ok(Self(shared))
    }

    /// A namespace for one run, or `None` when none is ready (the run then makes its own).
    pub fn lease(&self) -> Option<NetnsLease> {
        let ns = {
            let mut state = self.0.lock();
            let ns = state.ready.pop()?;
            state.out += 1;
            ns
        };
        // The keeper tops the ready ones up now, off the request path of the next run.
        self.0.send(Work::Refill);
        Some(NetnsLease {
            ns: Some(ns),
            pool: Arc::clone(&self.0),
        })
    }

    /// Namespaces ready to lease right now.
    pub fn ready(&self) -> usize {
        self.0.lock().ready.len()
    }

    /// Counts so far.
    pub fn stats(&self) -> NetnsStats {
        let c = &self.0.counters;
        NetnsStats {
            created: c.created.load(Ordering::Relaxed),
            reused: c.reused.load(Ordering::Relaxed),
            destroyed: c.destroyed.load(Ordering::Relaxed),
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, work: Work) {
        let keeper = self.keeper.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(mpsc::SendError(Work::Check(_))) = keeper.send(work) {
            self.destroyed();
        }
    }

    /// A leased namespace is closed (and so destroyed once its last process is gone); the
    /// keeper makes another.
    fn destroyed(&self) {
        self.lock().out -= 1;
        self.counters.destroyed.fetch_add(1, Ordering::Relaxed);
        if let Ok(keeper) = self.keeper.try_lock() {
            let _ = keeper.send(Work::Refill);
        }
    }
}

/// The keeper: holds given-back namespaces for [`QUARANTINE`], then checks them, and keeps
/// enough ready. It makes one namespace at a time and looks for due checks between two: under
/// a storm of namespaces being destroyed (the kernel's cleanup holds locks that creation
/// needs), making one can take seconds, and a check (cheap, and it saves making one) should
/// not wait behind a whole refill.
fn keep(shared: &Weak<Shared>, work: &mpsc::Receiver<Work>, home: &OwnedFd, loopback: bool) {
    let mut waiting: VecDeque<(Instant, Netns)> = VecDeque::new();
    let mut short = false;
    loop {
        let due = waiting.front().map(|(due, _)| *due);
        let received = match (short, due) {
            (true, _) => work.recv_timeout(Duration::ZERO),
            (false, Some(due)) => work.recv_timeout(due.saturating_duration_since(Instant::now())),
            (false, None) => work
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match received {
            Ok(Work::Check(ns)) => waiting.push_back((Instant::now() + QUARANTINE, ns)),
            Ok(Work::Refill) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        // Every check sent meanwhile starts its quarantine now, not behind one creation per
        // message queued before it.
        while let Ok(more) = work.try_recv() {
            if let Work::Check(ns) = more {
                waiting.push_back((Instant::now() + QUARANTINE, ns));
            }
        }
        while waiting
            .front()
            .is_some_and(|(due, _)| *due <= Instant::now())
        {
            if let Some((_, ns)) = waiting.pop_front() {
                shared.check(ns);
            }
        }
        short = shared.make_one(loopback, home);
    }
}

impl Shared {
    /// A given-back namespace after its quarantine: back to the ready ones if pristine.
    fn check(&self, ns: Netns) {
        if ns.is_pristine().unwrap_or(false) {
            let mut state = self.lock();
            state.out -= 1;
            state.ready.push(ns);
            self.counters.reused.fetch_add(1, Ordering::Relaxed);
        } else {
            drop(ns);
            self.destroyed();
        }
    }

    /// Makes one namespace if fewer than `sizes.ready` are ready and the pool owns fewer than
    /// `sizes.max`; whether the pool is still short of ready ones after it.
    fn make_one(&self, loopback: bool, home: &OwnedFd) -> bool {
        if !self.wants_more() {
            return false;
        }
        let Ok(ns) = Netns::create(loopback, home) else {
            // Not root, out of namespaces, or a kernel without a file of the trace (no IPv6):
            // runs make their own (the next lease or check asks again).
            return false;
        };
        self.counters.created.fetch_add(1, Ordering::Relaxed);
        self.lock().ready.push(ns);
        self.wants_more()
    }

    fn wants_more(&self) -> bool {
        let state = self.lock();
        state.ready.len() < self.sizes.ready && state.owned() < self.sizes.max
    }
}

/// One run's namespace. Dropped, it is destroyed; [`NetnsLease::give_back`] offers it for
/// reuse.
#[derive(Debug)]
pub struct NetnsLease {
    ns: Option<Netns>,
    pool: Arc<Shared>,
}

impl NetnsLease {
    /// How the run's init finds it.
    pub fn reference(&self) -> NetnsRef {
        let ns = self
            .ns
            .as_ref()
            .expect("a lease holds its namespace until consumed");
        NetnsRef {
            path: format!("/proc/{}/fd/{}", std::process::id(), ns.fd.as_raw_fd()).into(),
            inode: ns.inode,
        }
    }

    /// The run is over and every process of it gone (its runner exited after a clean
    /// teardown): the keeper checks the namespace and keeps it if pristine.
    pub fn give_back(mut self) {
        if let Some(ns) = self.ns.take() {
            self.pool.send(Work::Check(ns));
        }
    }
}

impl Drop for NetnsLease {
    fn drop(&mut self) {
        if self.ns.take().is_some() {
            self.pool.destroyed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_owns_at_most_the_namespaces_its_share_of_the_descriptor_limit_holds() {
        assert_eq!(DESCRIPTORS_PER_NETNS, 11);
        // A quarter less 1024 (this machine's 20000: 361, more than a full pool's 320)...
        assert_eq!(most_within(Some(65_536)), 1396);
        assert_eq!(most_within(Some(20_000)), 361);
        assert_eq!(most_within(Some(8640)), 103);
        // ... or an eighth, when that is more.
        assert_eq!(most_within(Some(4096)), 46);
        assert_eq!(most_within(Some(1024)), 11);
        assert_eq!(most_within(Some(80)), 0);
        assert_eq!(most_within(None), usize::MAX);
    }
}

#[cfg(test)]
mod cost {
    use super::*;

    /// What checking a namespace costs the pool's thread: `cargo test --release -p
    /// pyth-on-sandbox --lib print_trace_cost -- --ignored --nocapture` (as root).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn print_trace_cost() {
        let (home, _) = open_own_netns().unwrap();
        let ns = Netns::create(true, &home).unwrap();
        for round in 0..3 {
            let t = std::time::Instant::now();
            for _ in 0..2000 {
                assert!(ns.is_pristine().unwrap());
            }
            println!(
                "round {round}: {:.1} us per check",
                t.elapsed().as_secs_f64() * 1e6 / 2000.0
            );
        }
    }
}
