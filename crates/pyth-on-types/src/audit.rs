//! The audit log as the API shows it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// One hash-chained audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Entry id.
    pub id: Uuid,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// e.g. `auth.login`, `execute`, `secret.put`.
    pub action: String,
    /// What it acted on (a secret name, a key id, an execution id), if anything.
    pub resource: Option<String>,
    /// `success`, `failure` or `denied`; a run also has a `started` entry (committed before
    /// its program starts) and, if its server stopped before it ended, `interrupted`.
    pub outcome: String,
    /// The client address.
    pub ip: Option<String>,
    /// `jwt`, `api_key`, or null for public routes.
    pub auth_method: Option<String>,
    /// The API key used, if any.
    pub api_key_id: Option<Uuid>,
    /// Action-specific facts; never a password, token, key, secret value or source code.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// hex SHA-256 of `prevHash` and this entry.
    pub hash: String,
    /// The previous entry's hash (64 zeros for the first).
    pub prev_hash: String,
}

/// `GET /api/v1/audit`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/audit/verify`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditVerification {
    /// The whole chain recomputes.
    pub valid: bool,
    /// Number of entries checked.
    pub entries: u64,
    /// Hash of the newest entry (64 zeros when empty).
    pub head: String,
    /// Id of the first entry that does not verify, when `valid` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_invalid: Option<Uuid>,
}
