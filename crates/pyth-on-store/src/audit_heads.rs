//! The newest entry of each user's audit chain as this node last wrote it: a hint that lets a
//! run's record go in one round trip (`sql/remembered_head.rs`). The chain never depends on
//! it: every statement that uses a remembered head checks that it still is the head.

use std::collections::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

/// Users remembered at most; a full table starts again empty (a forgotten head costs one run
/// the two-statement path, nothing else).
const MAX_USERS: usize = 10_000;

/// A chain's newest entry: its `seq` and its hash (raw bytes, as stored).
pub(crate) type Head = (i64, Vec<u8>);

/// Each user's remembered head.
#[derive(Debug, Default)]
pub(crate) struct AuditHeads(Mutex<HashMap<Uuid, Head>>);

impl AuditHeads {
    /// The head remembered for `user`, if any.
    pub(crate) fn get(&self, user: Uuid) -> Option<Head> {
        self.lock().get(&user).cloned()
    }

    /// Remembers `head` as `user`'s newest entry.
    pub(crate) fn set(&self, user: Uuid, head: Head) {
        let mut heads = self.lock();
        if heads.len() >= MAX_USERS && !heads.contains_key(&user) {
            heads.clear();
        }
        heads.insert(user, head);
    }

    /// Forgets `user`'s head (it was not the head any more).
    pub(crate) fn forget(&self, user: Uuid) {
        self.lock().remove(&user);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Head>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_remembered_until_replaced_or_forgotten() {
        let heads = AuditHeads::default();
        let user = Uuid::now_v7();
        assert_eq!(heads.get(user), None);
        heads.set(user, (1, vec![1]));
        heads.set(user, (2, vec![2]));
        assert_eq!(heads.get(user), Some((2, vec![2])));
        heads.forget(user);
        assert_eq!(heads.get(user), None);
    }

    #[test]
    fn a_full_table_starts_again_empty() {
        let heads = AuditHeads::default();
        let first = Uuid::now_v7();
        heads.set(first, (1, vec![]));
        for seq in 1..MAX_USERS {
            heads.set(Uuid::now_v7(), (i64::try_from(seq).unwrap(), vec![]));
        }
        let last = Uuid::now_v7();
        heads.set(last, (7, vec![]));
        assert_eq!(heads.get(first), None);
        assert_eq!(heads.get(last), Some((7, vec![])));
        assert_eq!(heads.0.lock().unwrap().len(), 1);
    }
}
