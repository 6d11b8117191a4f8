//! Which user an API key belongs to, as this node last found it usable: a guess that lets a
//! request's rate-limit cell be taken side by side with the key's lookup (one round trip less
//! before every request), never a substitute for that lookup. Every request still reads its
//! key and its owner (revoked, disabled, deleted: refused at once, on every node); a guess the
//! lookup contradicts has its cell given back and is forgotten (`crate::http::auth`).

use std::collections::HashMap;
use std::sync::Mutex;

use pyth_on_crypto::key_hash::KeyHash;
use uuid::Uuid;

/// Most keys remembered; when full, the table starts again empty (a miss only costs the
/// round trip the guess saves).
pub const MAX_KEYS: usize = 10_000;

/// Key hashes (never the keys) and their owners' ids.
#[derive(Debug, Default)]
pub struct KeyOwners {
    owners: Mutex<HashMap<KeyHash, Uuid>>,
}

impl KeyOwners {
    /// The owner the store last gave for `key`, if this node remembers one.
    pub fn guess(&self, key: &KeyHash) -> Option<Uuid> {
        self.table().get(key).copied()
    }

    /// `owner` is who the store says `key` belongs to.
    pub fn remember(&self, key: &KeyHash, owner: Uuid) {
        let mut owners = self.table();
        if owners.get(key) == Some(&owner) {
            return;
        }
        if owners.len() >= MAX_KEYS && !owners.contains_key(key) {
            owners.clear();
        }
        owners.insert(*key, owner);
    }

    /// The store refused `key`: no guess for it any more.
    pub fn forget(&self, key: &KeyHash) {
        self.table().remove(key);
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<KeyHash, Uuid>> {
        // A panic while holding the lock cannot leave the map half-changed in a way that
        // matters: every entry is only a guess.
        self.owners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_key_is_guessed_until_it_is_forgotten() {
        let owners = KeyOwners::default();
        let (key, owner) = (KeyHash::of("pk_one"), Uuid::now_v7());
        assert_eq!(owners.guess(&key), None);

        owners.remember(&key, owner);
        assert_eq!(owners.guess(&key), Some(owner));
        assert_eq!(owners.guess(&KeyHash::of("pk_two")), None);

        owners.forget(&key);
        assert_eq!(owners.guess(&key), None);
    }

    #[test]
    fn a_full_table_starts_again_rather_than_growing() {
        let owners = KeyOwners::default();
        let owner = Uuid::now_v7();
        for n in 0..MAX_KEYS {
            owners.remember(&KeyHash::of(&format!("pk_{n}")), owner);
        }
        owners.remember(&KeyHash::of("pk_0"), owner);
        assert_eq!(
            owners.table().len(),
            MAX_KEYS,
            "a known key does not clear it"
        );

        owners.remember(&KeyHash::of("pk_new"), owner);
        assert_eq!(owners.table().len(), 1);
        assert_eq!(owners.guess(&KeyHash::of("pk_new")), Some(owner));
    }
}
