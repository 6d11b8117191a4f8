//! The pool of namespaces and its two background threads: the *maker* makes namespaces while
//! fewer than wanted are ready; the *checker* holds each given-back one for [`QUARANTINE`],
//! then reads its trace and returns it to the ready ones or closes it. Neither waits for the
//! other: making a namespace can take seconds in the kernel while others are being destroyed
//! (their cleanup holds locks that creation needs), and a check, cheap and saving a creation,
//! never waits behind one.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::namespace::{open_own_netns, Netns, NetnsRef};
use super::retry::Retry;
use super::trace::TRACE_FILES;
use crate::error::SysError;
use crate::sys;

/// How long a given-back namespace waits before its check: a multicast join or leave sends its
/// report from a kernel timer (about 10-20 ms later; repeats follow only a first one), so a
/// run that joined a group just before it ended shows it only then.
pub const QUARANTINE: Duration = Duration::from_secs(1);

/// Descriptors the pool holds for each namespace it owns: the namespace's own and the files of
/// its trace.
pub const DESCRIPTORS_PER_NETNS: usize = 1 + TRACE_FILES;

/// How many namespaces a pool keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSizes {
    /// Ready to lease: the maker makes new ones while fewer are ready (and the pool owns
    /// fewer than `max`).
    pub ready: usize,
    /// Most the pool owns at once: ready, leased, and given back but not yet checked (a
    /// second of runs: [`QUARANTINE`]). While it owns that many, it makes no more, and runs
    /// that find none ready make their own.
    pub max: usize,
}

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

/// How the pool has fared (for tests and the operator's metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetnsStats {
    /// Namespaces the maker made.
    pub created: u64,
    /// Leases given back and found pristine (the namespace went back to the pool).
    pub reused: u64,
    /// Leases destroyed: not given back, or found with a trace.
    pub destroyed: u64,
    /// Creations that failed (runs then make their own namespaces; the maker tries again a
    /// second later at the earliest, then after twice as long each time, up to a minute).
    pub failed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    created: AtomicU64,
    reused: AtomicU64,
    destroyed: AtomicU64,
    failed: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Asks the maker to top the ready ones up.
    maker: mpsc::Sender<()>,
    /// Hands a given-back namespace to the checker.
    checker: mpsc::Sender<Netns>,
    sizes: PoolSizes,
    counters: Counters,
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

/// Namespaces to lease: the maker makes them while fewer than `sizes.ready` are ready and the
/// pool owns fewer than `sizes.max` (ready, leased and in quarantine together), so that in
/// steady state each run takes one a finished run gave back. Cheap to clone; the pool's
/// threads end when the pool and every lease are gone.
#[derive(Debug, Clone)]
pub struct NetnsPool(Arc<Shared>);

impl NetnsPool {
    /// Starts the maker, which makes `sizes.ready` namespaces at once (with loopback up if
    /// `loopback`), and the checker. Needs root; without it the pool stays empty and every
    /// run gets a new namespace of its own, as without a pool.
    pub fn start(sizes: PoolSizes, loopback: bool) -> Result<Self, SysError> {
        let (maker, asks) = mpsc::channel();
        let (checker, given_back) = mpsc::channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            maker,
            checker,
            sizes,
            counters: Counters::default(),
        });
        let (home, _) = open_own_netns()?;
        let weak = Arc::downgrade(&shared);
        background("netns-maker", move || make(&weak, &asks, &home, loopback))?;
        let weak = Arc::downgrade(&shared);
        background("netns-checker", move || check(&weak, &given_back))?;
        shared.refill();
        Ok(Self(shared))
    }

    /// A namespace for one run, or `None` when none is ready (the run then makes its own).
    pub fn lease(&self) -> Option<NetnsLease> {
        let ns = {
            let mut state = self.0.lock();
            let ns = state.ready.pop();
            state.out += usize::from(ns.is_some());
            ns
        };
        // The maker tops the ready ones up now, off the request path of the next run; also
        // when none was ready, so that a creation that failed (out of namespaces or
        // descriptors for a moment) is tried again once its retry's wait is over.
        self.0.refill();
        Some(NetnsLease {
            ns: Some(ns?),
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
            failed: c.failed.load(Ordering::Relaxed),
        }
    }
}

/// Runs `work` on a thread of its own at the priority of background work (like a refill, it
/// yields the CPUs to runs in progress).
fn background(name: &str, work: impl FnOnce() + Send + 'static) -> Result<(), SysError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = sys::set_nice(0, crate::priority::PREPARE_NICE);
            work();
        })
        .map(drop)
        .map_err(|e| SysError::from_io("spawn", format!("{name} thread"), e))
}

/// The maker: on each ask, makes namespaces one at a time until the pool has enough. After
/// a creation failed it answers no ask for a while ([`Retry`]).
fn make(shared: &Weak<Shared>, asks: &mpsc::Receiver<()>, home: &OwnedFd, loopback: bool) {
    let mut retry = Retry::default();
    while asks.recv().is_ok() {
        // Asks sent meanwhile are answered by this round.
        while asks.try_recv().is_ok() {}
        if !retry.allows(Instant::now()) {
            continue;
        }
        loop {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            match shared.make_one(loopback, home) {
                Made::OneOfMore => retry.succeeded(),
                Made::Last => break retry.succeeded(),
                Made::Nothing => break,
                Made::Failed => break retry.failed(Instant::now()),
            }
        }
    }
}

/// What one step of the maker did.
enum Made {
    /// Made one, and the pool wants more.
    OneOfMore,
    /// Made one, and the pool has enough now.
    Last,
    /// Nothing to make: the pool has enough.
    Nothing,
    /// Making one failed.
    Failed,
}

/// The checker: holds given-back namespaces for [`QUARANTINE`], each from when it arrived,
/// then checks them in order. It never makes one.
fn check(shared: &Weak<Shared>, given_back: &mpsc::Receiver<Netns>) {
    let mut waiting: VecDeque<(Instant, Netns)> = VecDeque::new();
    loop {
        let received = match waiting.front() {
            Some((due, _)) => {
                given_back.recv_timeout(due.saturating_duration_since(Instant::now()))
            }
            None => given_back
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(ns) => waiting.push_back((Instant::now() + QUARANTINE, ns)),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        while waiting
            .front()
            .is_some_and(|(due, _)| *due <= Instant::now())
        {
            if let Some((_, ns)) = waiting.pop_front() {
                shared.check(ns);
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the maker to top the ready ones up (a no-op once it has ended).
    fn refill(&self) {
        let _ = self.maker.send(());
    }

    /// A leased namespace is closed (and so destroyed once its last process is gone); the
    /// maker makes another.
    fn destroyed(&self) {
        self.lock().out -= 1;
        self.counters.destroyed.fetch_add(1, Ordering::Relaxed);
        self.refill();
    }

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
    /// `sizes.max`.
    fn make_one(&self, loopback: bool, home: &OwnedFd) -> Made {
        if !self.wants_more() {
            return Made::Nothing;
        }
        let Ok(ns) = Netns::create(loopback, home) else {
            // Not root, out of namespaces or descriptors, or a kernel without a file of the
            // trace (no IPv6): runs make their own. Every lease, and every namespace
            // destroyed, asks again; the first ask after the retry's wait is answered.
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            return Made::Failed;
        };
        self.counters.created.fetch_add(1, Ordering::Relaxed);
        self.lock().ready.push(ns);
        if self.wants_more() {
            Made::OneOfMore
        } else {
            Made::Last
        }
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
        self.ns
            .as_ref()
            .expect("a lease holds its namespace until consumed")
            .reference()
    }

    /// The run is over and every process of it gone (its runner exited after a clean
    /// teardown): the checker checks the namespace and keeps it if pristine.
    pub fn give_back(mut self) {
        if let Some(ns) = self.ns.take() {
            if let Err(mpsc::SendError(ns)) = self.pool.checker.send(ns) {
                drop(ns);
                self.pool.destroyed();
            }
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
