//! Per-run identities: every sandbox runs under a uid (= gid) of its own, leased from a
//! configured range that no host account uses and returned once its runner has exited (its
//! sandbox torn down), so no two live runs share one. Per-uid kernel limits and accounting
//! (inotify instances and watches, `RLIMIT_NPROC`, POSIX message queues, keyrings, ...) then
//! belong to one run, not to every tenant at once.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// A range of ids to lease from. Cheap to clone.
#[derive(Debug, Clone)]
pub struct IdPool(Arc<Mutex<Inner>>);

#[derive(Debug)]
struct Inner {
    start: u32,
    count: u32,
    /// Next offset to try (round-robin, so a returned id is not reused at once).
    next: u32,
    leased: BTreeSet<u32>,
}

/// One leased id; returned to its pool on drop.
#[derive(Debug)]
pub struct IdLease {
    id: u32,
    pool: Arc<Mutex<Inner>>,
}

impl IdPool {
    /// Ids `start..start + count` (`count` at least 1; the range must not include 0).
    pub fn new(start: u32, count: u32) -> Self {
        Self(Arc::new(Mutex::new(Inner {
            start: start.max(1),
            count: count.max(1),
            next: 0,
            leased: BTreeSet::new(),
        })))
    }

    /// A free id, or `None` when every id of the range is leased.
    pub fn lease(&self) -> Option<IdLease> {
        let mut inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..inner.count {
            let offset = inner.next;
            inner.next = (inner.next + 1) % inner.count;
            let id = inner.start + offset;
            if inner.leased.insert(id) {
                return Some(IdLease {
                    id,
                    pool: Arc::clone(&self.0),
                });
            }
        }
        None
    }

    /// Ids leased right now.
    pub fn leased(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .leased
            .len()
    }
}

impl IdLease {
    /// The uid (and gid) of the run.
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl Drop for IdLease {
    fn drop(&mut self) {
        let mut inner = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        inner.leased.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_leases_never_share_an_id_and_a_full_range_refuses() {
        let pool = IdPool::new(1000, 3);
        let leases: Vec<_> = (0..3).map(|_| pool.lease().unwrap()).collect();
        let mut ids: Vec<u32> = leases.iter().map(IdLease::id).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1000, 1001, 1002]);
        assert!(pool.lease().is_none());
        drop(leases);
        assert_eq!(pool.leased(), 0);
    }

    #[test]
    fn a_returned_id_is_not_handed_out_again_at_once() {
        let pool = IdPool::new(1000, 3);
        let first = pool.lease().unwrap();
        let id = first.id();
        drop(first);
        assert_ne!(pool.lease().unwrap().id(), id);
    }
}
