//! Health and info.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /api/health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthResponse {
    /// `ok` or `degraded`.
    pub status: String,
    /// Server version.
    pub version: String,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Each check: `ok` or a short reason.
    pub checks: BTreeMap<String, String>,
}

/// A language the server can run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LanguageInfo {
    /// Canonical name.
    pub name: String,
    /// Interpreter version.
    pub version: String,
    /// Other accepted names.
    pub aliases: Vec<String>,
}

/// The configured limits.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsInfo {
    /// Request body limit.
    pub max_body_bytes: u64,
    /// Source code limit.
    pub max_code_bytes: u64,
    /// Per-stream output cap.
    pub max_output_bytes: u64,
    /// Default wall-clock limit.
    pub default_timeout_ms: u64,
    /// Maximum wall-clock limit.
    pub max_timeout_ms: u64,
    /// Default memory limit.
    pub default_memory_mb: u64,
    /// Maximum memory limit.
    pub max_memory_mb: u64,
    /// Minimum memory limit.
    pub min_memory_mb: u64,
    /// Requests per minute per user on `/api/v1/*`.
    pub rate_limit_per_minute: u32,
    /// Requests per minute per client IP on the auth routes.
    pub auth_rate_limit_per_minute: u32,
    /// Concurrent runs per user.
    pub max_concurrent_runs_per_user: u32,
    /// Queued runs before 503.
    pub max_queued_runs: u32,
    /// Secrets per user.
    pub max_secrets_per_user: u32,
    /// Maximum secret value size.
    pub max_secret_bytes: u64,
}

/// Optional features and whether this server has them on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeaturesInfo {
    /// The web console is served at `/`.
    #[serde(default)]
    pub console: bool,
    /// An LLM provider is configured.
    pub generate: bool,
    /// Zero-knowledge code storage.
    pub zero_knowledge: bool,
    /// Persistent packages.
    pub packages: bool,
    /// Runs may ask for egress.
    pub egress: bool,
    /// Who may create an account.
    #[serde(default)]
    pub registration: Registration,
}

/// Who may create an account (`PYTH_ON_REGISTRATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone who reaches the server.
    #[default]
    Open,
    /// With an invitation code an administrator created.
    Invite,
    /// Nobody: administrators create accounts.
    Closed,
}

/// `GET /api/info`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InfoResponse {
    /// `Pyth-On API`.
    pub name: String,
    /// Server version.
    pub version: String,
    /// Languages this server can run right now.
    pub languages: Vec<LanguageInfo>,
    /// Configured limits.
    pub limits: LimitsInfo,
    /// Feature switches.
    pub features: FeaturesInfo,
}
