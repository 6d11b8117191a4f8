#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod audit_chain;
mod audit_heads;
mod error;
pub mod gcra;
mod model;
#[expect(
    clippy::duplicate_mod,
    reason = "src/sql/*.rs is compiled once per backend by design: see \"The store code\""
)]
mod postgres;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
mod timed;
mod traits;

use std::sync::Arc;
use std::time::Duration;

pub use audit_chain::{
    audit_hash, canonical_json, verify_chain, AuditEntry, AuditEvent, ChainVerification,
    GENESIS_HASH,
};
pub use error::{Constraint, StoreError, StoreResult};
pub use gcra::{gcra, RateDecision};
pub use model::{
    from_unix_ms, to_unix_ms, truncate_to_millis, ApiKeyRecord, CpuCharge, DayUsage, Invitation,
    NewApiKey, NewInvitation, NewRefreshToken, NewUser, OpenRun, PackageEnvRow, PackageRow,
    PutOutcome, QuotaOverrideRow, RefreshOutcome, Role, RunReservation, SealedSecretRow,
    SecretMeta, SecretsDefault, SessionRecord, SignIn, User, UserSummary, ZkCodeRow,
    PACKAGE_ENV_BUILDING, PACKAGE_ENV_FAILED, PACKAGE_ENV_READY,
};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use timed::Timed;
pub use traits::{
    AccountStore, ApiKeyStore, AuditStore, EgressStore, InvitationStore, PackageStore, QuotaStore,
    RateLimitStore, RefreshTokenStore, RunRecordStore, SecretStore, SessionRecordStore, Store,
    UserStore, ZkCodeStore,
};

/// Pool settings for [`connect_with`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Most connections the pool opens (SQLite: reading connections; its writes share one).
    pub max_connections: u32,
    /// How long a call waits for a free connection before `StoreError::Unavailable` (SQLite:
    /// also how long a write waits for its turn on the writing connection).
    pub acquire_timeout: Duration,
    /// SQLite only: how long a writer waits for the database lock that another process (a
    /// second server or CLI on the same file) holds.
    pub busy_timeout: Duration,
    /// Longest any one store call (a statement, or a transaction of a few) may take, waiting
    /// for a connection included; past it the call fails with `StoreError::TimedOut`. On
    /// PostgreSQL it is also the server's `statement_timeout`. `None`: unbounded.
    pub statement_timeout: Option<Duration>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(10)),
        }
    }
}

/// Opens the store at `url` (`sqlite://path?mode=rwc` or `postgres://...`) with default pool
/// settings and applies pending migrations.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    connect_with(url, &ConnectOptions::default()).await
}

/// [`connect`] with explicit pool settings.
pub async fn connect_with(url: &str, options: &ConnectOptions) -> StoreResult<Arc<dyn Store>> {
    let store = connect_unbounded(url, options).await?;
    Ok(match options.statement_timeout {
        Some(limit) => Arc::new(Timed::new(store, limit)),
        None => store,
    })
}

/// The backend named by `url`, its calls not yet bounded in time.
async fn connect_unbounded(url: &str, options: &ConnectOptions) -> StoreResult<Arc<dyn Store>> {
    // Never log the URL: it may carry a password.
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, options).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url, options).await?))
    } else {
        let scheme = url.split(':').next().unwrap_or_default();
        Err(StoreError::Other(anyhow::anyhow!(
            "unsupported database URL scheme {scheme:?}: expected sqlite: or postgres://"
        )))
    }
}

/// Maps a migration failure: database errors keep their classification.
fn migrate_error(err: sqlx::migrate::MigrateError) -> StoreError {
    match err {
        sqlx::migrate::MigrateError::Execute(e) => StoreError::from(e),
        other => StoreError::Other(anyhow::Error::new(other).context("applying migrations")),
    }
}
