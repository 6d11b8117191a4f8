//! `KeyHash`: the SHA-256 of a credential, the only form in which API keys and refresh tokens
//! are stored.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// SHA-256 of a credential's full string. Not secret by itself, but compared in constant
/// time anyway ([`KeyHash::ct_eq`]; `==` uses it too).
#[derive(Clone, Copy)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    /// Hashes `credential` (the whole string, prefix included).
    pub fn of(credential: &str) -> Self {
        Self(Sha256::digest(credential.as_bytes()).into())
    }

    /// Rebuilds a hash read back from storage; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 32 bytes as a `Vec`, for a database column.
    pub fn to_vec(&self) -> Vec<u8> {
        self.0.to_vec()
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl PartialEq for KeyHash {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for KeyHash {}

impl std::hash::Hash for KeyHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Consistent with `eq`, which compares the same 32 bytes.
        self.0.hash(state);
    }
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A prefix is enough to tell hashes apart in logs.
        write!(f, "KeyHash({}…)", &self.to_hex()[..12])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_is_sha256_of_the_whole_string() {
        let h = KeyHash::of("abc");
        assert_eq!(
            h.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(h.to_vec().len(), 32);
    }

    #[test]
    fn equal_hashes_compare_equal_and_different_ones_do_not() {
        assert!(KeyHash::of("a").ct_eq(&KeyHash::of("a")));
        assert!(!KeyHash::of("a").ct_eq(&KeyHash::of("b")));
        assert_eq!(KeyHash::of("a"), KeyHash::of("a"));
    }

    #[test]
    fn a_hash_round_trips_through_a_byte_column() {
        let h = KeyHash::of("x");
        assert_eq!(KeyHash::from_slice(&h.to_vec()), Some(h));
        assert_eq!(KeyHash::from_slice(&[0; 31]), None);
    }
}
