//! Secret bodies: values go in, only metadata comes out.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Body of `PUT /api/v1/secrets/{name}`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretInput {
    /// The value: 1 byte to the server's `--max-secret-bytes` (default 32768; larger is a
    /// 413), without NUL. Never returned by any route.
    #[schema(format = Password, min_length = 1, max_length = 32768, pattern = r"^[^\x00]*$")]
    pub value: String,
}

impl std::fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretInput { value: [redacted] }")
    }
}

/// What the API says about a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretMetadata {
    /// `^[A-Z_][A-Z0-9_]{0,63}$`.
    pub name: String,
    /// First creation.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last replacement.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// 1 on creation, +1 on every replacement.
    pub version: i64,
}

/// `GET /api/v1/secrets`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretList {
    /// Sorted by name.
    pub secrets: Vec<SecretMetadata>,
}
