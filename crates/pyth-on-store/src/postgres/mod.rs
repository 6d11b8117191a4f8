//! The PostgreSQL store, for several server nodes sharing one database. Per-user
//! serialisation (audit chain, quotas) uses a transaction-scoped advisory lock keyed by the
//! user id, taken before anything else in the transaction so lock order is always the same.

mod api_keys;
mod audit;
mod egress;
mod packages;
mod rate_limit;
mod refresh;
mod runs;
mod secrets;
mod users;
mod zk_code;

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::StoreResult;
use crate::traits::Store;
use crate::{migrate_error, ConnectOptions};

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` and applies pending migrations (sqlx serialises concurrent
    /// migrators across nodes with its own advisory lock).
    pub async fn connect(url: &str, options: &ConnectOptions) -> StoreResult<Self> {
        let mut connect = PgConnectOptions::from_str(url)?.application_name("pyth-on");
        if let Some(limit) = options.statement_timeout {
            // The server gives up too, so a slow statement does not go on after its caller left.
            let ms = limit.as_millis().to_string();
            connect = connect.options([("statement_timeout", ms.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(migrate_error)?;
        Ok(Self { pool })
    }

    /// The underlying pool (for tests and maintenance).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Serialises this transaction with every other one that locks `user_id`, until it ends.
/// Two users may share a key (64 bits folded from 128); that only costs a little waiting.
pub(crate) async fn lock_user(conn: &mut PgConnection, user_id: Uuid) -> StoreResult<()> {
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(user_lock_key(user_id))
        .execute(conn)
        .await?;
    Ok(())
}

fn user_lock_key(user_id: Uuid) -> i64 {
    let (hi, lo) = user_id.as_u64_pair();
    i64::from_ne_bytes((hi ^ lo).to_ne_bytes())
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}
