//! Registration, login, token verification and refresh, and API-key management bodies.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Credentials for `POST /api/register` and `POST /api/login`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthRequest {
    /// An email address, at most 254 bytes (64 before the `@`); compared case-insensitively.
    /// Surrounding spaces are ignored.
    #[schema(
        example = "ada@example.com",
        max_length = 254,
        pattern = r"^[^\s@\x00-\x1f\x7f-\x9f]{1,64}@[^\s@.\x00-\x1f\x7f-\x9f]+(\.[^\s@.\x00-\x1f\x7f-\x9f]+)+$"
    )]
    pub email: String,
    /// 12 characters to 1024 bytes (on login any value is accepted and simply does not
    /// match).
    #[schema(example = "correct horse battery staple", format = Password, min_length = 12, max_length = 1024)]
    pub password: String,
}

impl std::fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRequest")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// The public view of an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// UUIDv7.
    pub id: Uuid,
    /// Lower-cased email.
    pub email: String,
    /// RFC 3339 UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `user` or `admin`.
    #[serde(default)]
    pub role: crate::UserRole,
    /// Which secrets a request that names none receives (`PUT /api/v1/me/settings`).
    #[serde(default)]
    pub secrets_default: crate::SecretsDefault,
}

/// Tokens issued on register, login and refresh.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthResponse {
    /// A short-lived access JWT (HS256), sent as `Authorization: Bearer <token>`.
    pub token: String,
    /// An opaque single-use refresh token for `POST /api/refresh`.
    pub refresh_token: String,
    /// Lifetime of `token` in seconds.
    pub expires_in: u64,
    /// Always `Bearer`.
    pub token_type: String,
    /// The first API key, only on registration: the only time it is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// The account.
    pub user: UserInfo,
}

impl std::fmt::Debug for AuthResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthResponse")
            .field("token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("user", &self.user)
            .finish()
    }
}

/// Body of `POST /api/verify` when the token is not in the `Authorization` header.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyRequest {
    /// An access token; when present it is the one checked, even if an `Authorization`
    /// header is sent too.
    #[serde(default)]
    pub token: Option<String>,
}

impl std::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyRequest { .. }")
    }
}

/// Answer of `POST /api/verify`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    /// Always `true` (an invalid token is a 401).
    pub valid: bool,
    /// The token's user.
    pub user: UserInfo,
    /// When the token expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Body of `POST /api/logout` (optional: a browser signed in with the refresh cookie sends
/// none, and the cookie's token is used).
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogoutRequest {
    /// The refresh token whose sign-in ends (its whole family is revoked).
    #[serde(default)]
    #[schema(format = Password)]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for LogoutRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogoutRequest { .. }")
    }
}

/// Body of `POST /api/refresh`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last `AuthResponse`; empty when the browser holds it in
    /// the refresh cookie (with `X-Pyth-On-Cookie: refresh`).
    #[schema(format = Password)]
    pub refresh_token: String,
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshRequest { .. }")
    }
}

/// Body of `POST /api/v1/keys`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// A label, 1 to 64 characters without control characters (surrounding spaces are
    /// trimmed and do not count).
    #[schema(
        pattern = r"^\s*[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?\s*$"
    )]
    pub name: String,
}

/// A newly created API key: the only time its value is shown.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    /// Key id, used to revoke it.
    pub id: Uuid,
    /// The label.
    pub name: String,
    /// The key itself, for the `x-api-key` header.
    pub api_key: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

/// An API key as listed: never its value.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    /// Key id.
    pub id: Uuid,
    /// The label.
    pub name: String,
    /// The first characters of the key, enough to recognise it.
    pub prefix: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last successful use, if any, to the minute: a key in steady use is recorded again
    /// once a minute, not on every request.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// `GET /api/v1/keys`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyList {
    /// Live keys, oldest first.
    pub keys: Vec<KeyInfo>,
}
