//! Zero-knowledge code rows: a user's encrypted programs, stored as the opaque wire payload.

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

/// An encrypted program as stored (see `docs/ZKCODE.md`). The store never parses `payload`;
/// the other fields are the metadata the API lists without touching it.
#[derive(Clone, PartialEq, Eq)]
pub struct ZkCodeRow {
    /// Owner.
    pub user_id: Uuid,
    /// Name, unique per user, case-sensitive.
    pub name: String,
    /// Language of the plaintext (`"python"`, `"javascript"`, ...).
    pub language: String,
    /// The canonical wire JSON text of the `ZKPayload`, stored as given.
    pub payload: String,
    /// Plaintext bytes: ciphertext length minus the AEAD tag.
    pub size: i64,
    /// Argon2id memory cost (KiB).
    pub kdf_m: i64,
    /// Argon2id iterations.
    pub kdf_t: i64,
    /// Argon2id parallelism.
    pub kdf_p: i64,
    /// Creation time (kept on replace).
    pub created_at: OffsetDateTime,
    /// Last replace (or creation) time.
    pub updated_at: OffsetDateTime,
}

impl fmt::Debug for ZkCodeRow {
    // The payload is ciphertext: not secret, but noise in logs. Show its length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZkCodeRow")
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("language", &self.language)
            .field("payload_len", &self.payload.len())
            .field("size", &self.size)
            .field("kdf_m", &self.kdf_m)
            .field("kdf_t", &self.kdf_t)
            .field("kdf_p", &self.kdf_p)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}
