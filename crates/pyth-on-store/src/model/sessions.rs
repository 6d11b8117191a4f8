//! Session records: which node holds each open session, and what the API says about it.

use time::OffsetDateTime;
use uuid::Uuid;

/// An open session as the database knows it: its owner, the node holding its interpreter, and
/// its settings and deadlines (what another node lists without asking the owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session's id.
    pub session_id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// The advertised base URL of the node holding it (its `--node-url`).
    pub node_url: String,
    /// The instance id of the process holding it (random per start of a node).
    pub node_instance: Uuid,
    /// `python` or `javascript`.
    pub language: String,
    /// Memory limit in MiB.
    pub memory_mb: i64,
    /// Idle timeout in seconds.
    pub idle_timeout_secs: i64,
    /// Lifetime in seconds.
    pub max_lifetime_secs: i64,
    /// When it opened.
    pub created_at: OffsetDateTime,
    /// When its last cell ended (or it opened).
    pub last_used_at: OffsetDateTime,
    /// When it ends if unused: the earlier of its idle deadline and its lifetime's end.
    pub expires_at: OffsetDateTime,
}
