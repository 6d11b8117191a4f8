//! Building audit events. Details never hold a password, token, key, secret value or code.

use std::net::IpAddr;

use pyth_on_store::AuditEvent;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::http::auth::AuthUser;

/// `success`, `failure`, `denied`; for runs also `started` and `interrupted`.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    /// A run is on the record and its program about to start; its outcome follows.
    Started,
    /// A run's node died (or was stopped) before the run ended: its outcome is unknown.
    Interrupted,
    /// It happened.
    Success,
    /// It was attempted and failed.
    Failure,
    /// It was refused.
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Interrupted => "interrupted",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

/// An event done by an authenticated caller.
pub fn by(
    user: &AuthUser,
    action: &str,
    resource: Option<String>,
    outcome: Outcome,
    details: Value,
) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        user_id: user.user_id,
        at: OffsetDateTime::now_utc(),
        action: action.to_string(),
        resource,
        outcome: outcome.as_str().to_string(),
        ip: Some(user.ip.to_string()),
        auth_method: Some(user.method.as_str().to_string()),
        api_key_id: user.method.api_key_id(),
        details,
    }
}

/// An event on a public route (register, login, refresh), attributed to `user_id`.
pub fn public(
    user_id: Uuid,
    ip: IpAddr,
    action: &str,
    outcome: Outcome,
    details: Value,
) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        user_id,
        at: OffsetDateTime::now_utc(),
        action: action.to_string(),
        resource: None,
        outcome: outcome.as_str().to_string(),
        ip: Some(ip.to_string()),
        auth_method: None,
        api_key_id: None,
        details,
    }
}

/// hex SHA-256 of submitted code: what the audit log keeps instead of the code.
pub fn code_digest(code: &[u8]) -> String {
    hex::encode(Sha256::digest(code))
}
