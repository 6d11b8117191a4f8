//! Per-run identities: every sandbox runs under a uid (= gid) of its own, leased from a
//! configured range that no host account uses and returned once its runner has exited (its
//! sandbox torn down), so no two live runs share one. Per-uid kernel limits and accounting
//! (inotify instances and watches, `RLIMIT_NPROC`, POSIX message queues, keyrings, ...) then
//! belong to one run, not to every tenant at once.
//!
//! A lease also carries a **kept cgroup**: a group name (`<server pid>-k<tag>-<n>`) that its
//! sandbox alone holds, which the runner empties after the run and leaves for the name's
//! next holder instead of making and removing a group per run (a memory cgroup that is
//! removed lingers in the kernel while pages are charged to it, and thousands of them slowed
//! every run on this machine; docs/PERFORMANCE.md). Uids go round-robin, so a returned uid is
//! not reused at once; group numbers go back on a stack and the most recently returned is
//! handed out first, so a node has only as many groups as it ever had sandboxes alive at once.
//! The name starts with the server's pid, so once the server is gone the stale sweep removes
//! its groups like any group of a dead runner, then a random tag of the pool's (servers in
//! different PID namespaces may have one pid, and the benchmark runs three in one process).

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
    /// Group numbers returned, the most recent last.
    groups_free: Vec<u32>,
    /// Group numbers handed out so far (`1..=groups_made`).
    groups_made: u32,
    /// What every kept group's name starts with.
    groups_prefix: Arc<str>,
}

/// One leased id; returned to its pool on drop.
#[derive(Debug)]
pub struct IdLease {
    id: u32,
    /// The kept group's name: the pool's prefix and its number.
    groups_prefix: Arc<str>,
    group: u32,
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
            groups_free: Vec::new(),
            groups_made: 0,
            groups_prefix: format!(
                "{}-k{}",
                std::process::id(),
                // The last 48 bits of a version 7 UUID are random.
                &uuid::Uuid::now_v7().simple().to_string()[20..]
            )
            .into(),
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
                let group = inner.groups_free.pop().unwrap_or_else(|| {
                    inner.groups_made += 1;
                    inner.groups_made
                });
                return Some(IdLease {
                    id,
                    groups_prefix: Arc::clone(&inner.groups_prefix),
                    group,
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

    /// The name of the cgroup kept for this lease's sandbox (no other live lease has it).
    pub fn kept_cgroup(&self) -> String {
        format!("{}-{}", self.groups_prefix, self.group)
    }
}

impl Drop for IdLease {
    fn drop(&mut self) {
        let mut inner = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        inner.leased.remove(&self.id);
        inner.groups_free.push(self.group);
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

    #[test]
    fn live_leases_never_share_a_kept_group_and_the_last_one_returned_comes_back_first() {
        let pool = IdPool::new(1000, 8);
        let a = pool.lease().unwrap();
        let b = pool.lease().unwrap();
        let c = pool.lease().unwrap();
        let prefix = a.kept_cgroup().trim_end_matches("-1").to_owned();
        assert!(
            prefix.starts_with(&format!("{}-k", std::process::id())),
            "{prefix}"
        );
        let names = [a.kept_cgroup(), b.kept_cgroup(), c.kept_cgroup()];
        assert_eq!(names, [1, 2, 3].map(|n| format!("{prefix}-{n}")));
        drop(b);
        drop(a);
        let next = pool.lease().unwrap();
        assert_eq!(next.kept_cgroup(), format!("{prefix}-1"), "the most recent");
        assert_ne!(next.id(), 1000, "while its uid is not reused at once");
        assert_eq!(pool.lease().unwrap().kept_cgroup(), format!("{prefix}-2"));
        assert_eq!(
            pool.lease().unwrap().kept_cgroup(),
            format!("{prefix}-2"),
            "the lease above was dropped at once"
        );
        let other = IdPool::new(1000, 8).lease().unwrap().kept_cgroup();
        assert!(!other.starts_with(&format!("{prefix}-")), "{other}");
        drop(c);
    }
}
