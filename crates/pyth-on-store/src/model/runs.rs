//! Open runs: a run whose `started` audit entry is committed and whose outcome is not yet.

use time::OffsetDateTime;
use uuid::Uuid;

/// A run on the record without an outcome. Who ran it (`ip`, `auth_method`, `api_key_id`) is
/// kept so an `interrupted` outcome written by another process is attributed like the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRun {
    /// The run's id (the answer's `executionId`).
    pub execution_id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// The server node running it (its `--node-name`).
    pub node: String,
    /// The audit action of its entries (`execute`, `zk.execute`).
    pub action: String,
    /// The audit resource of its entries.
    pub resource: Option<String>,
    /// Client address of the request that started it.
    pub ip: Option<String>,
    /// `jwt` or `api_key`.
    pub auth_method: Option<String>,
    /// The API key that started it, if one did.
    pub api_key_id: Option<Uuid>,
    /// When it was put on the record.
    pub started_at: OffsetDateTime,
    /// When it must have ended, whatever happened: past this, any node may close it as
    /// interrupted.
    pub deadline_at: OffsetDateTime,
}
