//! Persistent packages: each user's wanted packages per language, and the content-addressed
//! environments built from resolved package sets, shared by every user.

use time::OffsetDateTime;
use uuid::Uuid;

/// One persistent package of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRow {
    /// Owner.
    pub user_id: Uuid,
    /// `"python"` or `"javascript"` (validated by the caller).
    pub language: String,
    /// Normalized name, unique per `(user_id, language)`: lowercase, and for Python PEP 503
    /// normalized (runs of `-`, `_`, `.` become one `-`). The caller normalizes.
    pub name: String,
    /// The spec as the user gave it (`requests==2.32.3`, `lodash@4`), validated by the caller.
    pub spec: String,
    /// When this spec was added (a replace stores the new time).
    pub added_at: OffsetDateTime,
}

/// A package environment build: its state, keyed by the hex SHA-256 of the resolved set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageEnvRow {
    /// Hex SHA-256 of the resolved package set (primary key).
    pub env_key: String,
    /// `"python"` or `"javascript"`.
    pub language: String,
    /// `"building"`, `"ready"` or `"failed"` (see the `PACKAGE_ENV_*` constants).
    pub status: String,
    /// The installer's message when `status` is `"failed"`.
    pub error: Option<String>,
    /// Size on disk once built; 0 while building.
    pub size_bytes: i64,
    /// When the first claim inserted the row.
    pub created_at: OffsetDateTime,
    /// Last claim, takeover or finish: a building row whose `updated_at` is too old is stale.
    pub updated_at: OffsetDateTime,
    /// Last use by an execution (or the claim/finish), for garbage collection.
    pub last_used_at: OffsetDateTime,
}

/// [`PackageEnvRow::status`] while one node builds the environment.
pub const PACKAGE_ENV_BUILDING: &str = "building";
/// [`PackageEnvRow::status`] once the environment is usable.
pub const PACKAGE_ENV_READY: &str = "ready";
/// [`PackageEnvRow::status`] when the install failed (`error` says why).
pub const PACKAGE_ENV_FAILED: &str = "failed";
