//! Row models shared by every backend: what callers insert and what they read back.
//!
//! Timestamps are stored as unix milliseconds, so every `OffsetDateTime` read back is in UTC
//! and truncated to the millisecond; use [`truncate_to_millis`] before comparing.

mod accounts;
mod packages;
mod quotas;
mod runs;
mod sessions;
mod zk_code;

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

pub use self::accounts::{Invitation, NewInvitation, Role, SecretsDefault, SignIn, UserSummary};
pub use self::packages::{
    PackageEnvRow, PackageRow, PACKAGE_ENV_BUILDING, PACKAGE_ENV_FAILED, PACKAGE_ENV_READY,
};
pub use self::quotas::{CpuCharge, DayUsage, QuotaOverrideRow, RunReservation};
pub use self::runs::OpenRun;
pub use self::sessions::SessionRecord;
pub use self::zk_code::ZkCodeRow;
use crate::error::{StoreError, StoreResult};

/// A user to insert. Emails are lowercased by the caller; the store compares them exactly.
#[derive(Clone)]
pub struct NewUser {
    /// Primary key (UUID v7 by convention).
    pub id: Uuid,
    /// Lowercased email, unique.
    pub email: String,
    /// PHC-format password hash; never logged.
    pub password_hash: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Role.
    pub role: Role,
}

/// A stored user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Primary key.
    pub id: Uuid,
    /// Lowercased email.
    pub email: String,
    /// PHC-format password hash; never logged.
    pub password_hash: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Role.
    pub role: Role,
    /// When an admin disabled the account (its keys and tokens are refused), if they did.
    pub disabled_at: Option<OffsetDateTime>,
    /// Which secrets a run that names none receives.
    pub secrets_default: SecretsDefault,
}

fn fmt_user(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    id: &Uuid,
    email: &str,
    created_at: &OffsetDateTime,
) -> fmt::Result {
    f.debug_struct(name)
        .field("id", id)
        .field("email", &email)
        .field("password_hash", &"[redacted]")
        .field("created_at", created_at)
        .finish()
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_user(f, "NewUser", &self.id, &self.email, &self.created_at)
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_user(f, "User", &self.id, &self.email, &self.created_at)
    }
}

/// An API key to insert; only the SHA-256 of the key is stored.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Primary key.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Human label.
    pub name: String,
    /// Displayable prefix of the key (not secret).
    pub prefix: String,
    /// SHA-256 of the full key, unique.
    pub key_hash: Vec<u8>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A stored, non-revoked API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Primary key.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Human label.
    pub name: String,
    /// Displayable prefix of the key.
    pub prefix: String,
    /// SHA-256 of the full key.
    pub key_hash: Vec<u8>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last successful authentication with this key, if any.
    pub last_used_at: Option<OffsetDateTime>,
}

/// A refresh token to insert; only its hash is stored.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    /// Primary key.
    pub id: Uuid,
    /// Owner (ignored for a rotation successor: taken from the spent token).
    pub user_id: Uuid,
    /// Rotation family (ignored for a rotation successor: taken from the spent token).
    pub family_id: Uuid,
    /// Hash of the token, unique.
    pub token_hash: Vec<u8>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// The token is invalid at and after this instant.
    pub expires_at: OffsetDateTime,
    /// Client address of the request it answers (shown in the sign-ins list).
    pub ip: Option<String>,
    /// `User-Agent` of that request, at most 200 characters.
    pub user_agent: Option<String>,
}

/// What [`crate::RefreshTokenStore::rotate_refresh_token`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The presented token was live: it is now spent, and the successor is stored.
    Rotated {
        /// Owner of the family.
        user_id: Uuid,
        /// The family the successor joined.
        family_id: Uuid,
    },
    /// The presented token had already been spent: the whole family (successors included) is
    /// revoked and `audit_reuse` was appended for the owner.
    Reused {
        /// Owner of the family.
        user_id: Uuid,
        /// The revoked family.
        family_id: Uuid,
    },
    /// Unknown token, expired token, or revoked family: nothing was written.
    Invalid,
}

/// Result of a successful insert-or-replace ([`crate::SecretStore::put_secret`],
/// [`crate::ZkCodeStore::put_zk_code`], [`crate::PackageStore::add_package`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// A new row (for a secret: version 1).
    Created,
    /// An existing row replaced (for a secret: version = expected + 1).
    Replaced,
}

/// A secret as stored: sealed with a per-secret data key wrapped by a master key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecretRow {
    /// Owner.
    pub user_id: Uuid,
    /// Name, unique per user.
    pub name: String,
    /// Optimistic-concurrency version, 1 on creation, +1 on each replace.
    pub version: i64,
    /// Which master key wrapped `wrapped_key`.
    pub key_version: u32,
    /// The data key, wrapped by master key `key_version`.
    pub wrapped_key: Vec<u8>,
    /// AEAD nonce of `ciphertext`.
    pub nonce: Vec<u8>,
    /// The sealed value.
    pub ciphertext: Vec<u8>,
    /// Creation time (kept on replace).
    pub created_at: OffsetDateTime,
    /// Last replace (or creation) time.
    pub updated_at: OffsetDateTime,
}

impl fmt::Debug for SealedSecretRow {
    // Sealed bytes are not secret, but they are noise in logs: show their lengths only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecretRow")
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("version", &self.version)
            .field("key_version", &self.key_version)
            .field("wrapped_key_len", &self.wrapped_key.len())
            .field("nonce_len", &self.nonce.len())
            .field("ciphertext_len", &self.ciphertext.len())
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// A secret's metadata, without any sealed material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    /// Name.
    pub name: String,
    /// Current version.
    pub version: i64,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last replace time.
    pub updated_at: OffsetDateTime,
}

/// What a presented refresh token's row says, before anything is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshState {
    /// Unspent, unrevoked, unexpired: rotate it.
    Live,
    /// Spent before (and its family not yet revoked): someone replayed it.
    Reused,
    /// Revoked family or expired: refuse, write nothing.
    Invalid,
}

/// The rotation rules both backends share. A revoked family is checked first (a replay after
/// revocation changes nothing), then reuse (a replayed spent token revokes the family even
/// if it has expired since), then expiry (`expires_at <= now`).
pub(crate) fn refresh_state(
    expires_at: i64,
    spent_at: Option<i64>,
    revoked_at: Option<i64>,
    now: i64,
) -> RefreshState {
    if revoked_at.is_some() {
        RefreshState::Invalid
    } else if spent_at.is_some() {
        RefreshState::Reused
    } else if expires_at <= now {
        RefreshState::Invalid
    } else {
        RefreshState::Live
    }
}

/// Truncates to whole milliseconds, the precision every timestamp is stored with.
pub fn truncate_to_millis(t: OffsetDateTime) -> OffsetDateTime {
    // `to_unix_ms` floors, so this cannot fail for any time that can be stored.
    from_unix_ms(to_unix_ms(t)).unwrap_or(t)
}

/// Unix milliseconds (floored), the storage format of every timestamp.
pub fn to_unix_ms(t: OffsetDateTime) -> i64 {
    let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

/// The UTC instant `ms` unix milliseconds after the epoch.
pub fn from_unix_ms(ms: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::corrupt("timestamp", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_round_trip_at_millisecond_precision() {
        let t = datetime!(2025-03-04 05:06:07.123_456_789 UTC);
        let ms = to_unix_ms(t);
        assert_eq!(
            from_unix_ms(ms).unwrap(),
            datetime!(2025-03-04 05:06:07.123 UTC)
        );
        assert_eq!(
            truncate_to_millis(t),
            datetime!(2025-03-04 05:06:07.123 UTC)
        );
    }

    #[test]
    fn times_before_the_epoch_floor_to_the_earlier_millisecond() {
        let t = datetime!(1969-12-31 23:59:59.999_5 UTC);
        assert_eq!(to_unix_ms(t), -1);
    }

    #[test]
    fn debug_of_a_user_redacts_the_password_hash() {
        let user = User {
            id: Uuid::nil(),
            email: "a@example.com".into(),
            password_hash: "$argon2id$secret".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            role: Role::Admin,
            disabled_at: None,
            secrets_default: SecretsDefault::None,
        };
        let shown = format!("{user:?}");
        assert!(!shown.contains("argon2id"));
        assert!(shown.contains("[redacted]"));
    }
}
