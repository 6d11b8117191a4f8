//! The PostgreSQL store, for several server nodes sharing one database. Per-user
//! serialisation (audit chain, quotas) uses a transaction-scoped advisory lock keyed by the
//! user id, taken before anything else in the transaction so lock order is always the same.

// The store methods, one copy for both backends (see `crate::sql`'s note in lib.rs): each
// file is compiled once here and once in `sqlite`, `super` being the backend.
#[path = "../sql/accounts.rs"]
mod accounts;
#[path = "../sql/api_keys.rs"]
mod api_keys;
#[path = "../sql/audit.rs"]
mod audit;
#[path = "../sql/egress.rs"]
mod egress;
#[path = "../sql/invitations.rs"]
mod invitations;
#[path = "../sql/packages.rs"]
mod packages;
#[path = "../sql/quotas.rs"]
mod quotas;
#[path = "../sql/rate_limit.rs"]
mod rate_limit;
#[path = "../sql/refresh.rs"]
mod refresh;
#[path = "../sql/remembered_head.rs"]
mod remembered_head;
#[path = "../sql/runs.rs"]
mod runs;
#[path = "../sql/secrets.rs"]
mod secrets;
#[path = "../sql/sessions.rs"]
mod sessions;
#[path = "../sql/users.rs"]
mod users;
#[path = "../sql/zk_code.rs"]
mod zk_code;

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::audit_heads::AuditHeads;
use crate::error::StoreResult;
use crate::traits::Store;
use crate::{migrate_error, ConnectOptions};

/// The PostgreSQL migrations, applied on every connect (and to the test template database).
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

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
        MIGRATOR.run(&pool).await.map_err(migrate_error)?;
        Ok(Self { pool })
    }

    /// The underlying pool (for tests and maintenance).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction for changes that must not interleave with another writer's; it
    /// serialises nothing by itself: the shared code takes [`lock_user`] (or a row lock,
    /// [`FOR_UPDATE`]) before it reads what it goes on to change.
    async fn begin_write(&self) -> StoreResult<WriteTx> {
        Ok(self.pool.begin().await?)
    }

    /// [`Self::begin_write`]: the `BEGIN` cannot go with a statement here
    /// ([`BEGIN_IN_STATEMENT`] is empty).
    async fn begin_write_in_statement(&self) -> StoreResult<WriteTx> {
        self.begin_write().await
    }

    /// None: several nodes write one database, so a head one node remembers would often be
    /// stale (a run's record also takes the user's advisory lock in a statement of its own).
    fn remembered_heads(&self) -> Option<&AuditHeads> {
        None
    }

    /// Where a single statement that writes goes: the one pool (PostgreSQL's row locks
    /// serialise what must be).
    async fn writer(&self) -> StoreResult<PoolConnection<Postgres>> {
        self.reader().await
    }

    /// Where a read goes: the one pool.
    async fn reader(&self) -> StoreResult<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }
}

// What the shared store code (`src/sql/*.rs`) needs of this backend: its dialect.

/// This backend, as sqlx names it.
type Db = Postgres;
/// The store type the shared code implements the traits for.
type BackendStore = PgStore;
/// A connection of this backend (inside a transaction or not).
type DbConn = PgConnection;
/// A write transaction ([`PgStore::begin_write`]): `commit` it, or drop it to roll back.
type WriteTx = Transaction<'static, Postgres>;
/// Nothing: a prepared statement holds one command here, so the transaction's `BEGIN` is
/// its own round trip ([`PgStore::begin_write_in_statement`]).
const BEGIN_IN_STATEMENT: &str = "";
/// Nothing: [`commit_after`] commits.
const COMMIT_IN_STATEMENT: &str = "";

/// Commits `tx` (its last statement could not hold the `COMMIT`).
async fn commit_after(tx: WriteTx) -> StoreResult<()> {
    Ok(tx.commit().await?)
}
/// A result row of this backend.
type DbRow = PgRow;
/// Appended to an `order by` term to sort text byte-wise whatever the database locale, as
/// SQLite's BINARY does.
const BYTEWISE: &str = " collate \"C\"";
/// Appended to a `select` whose rows the transaction goes on to change: locks them until it
/// ends, so another transaction presenting the same row waits and then sees the change.
const FOR_UPDATE: &str = " for update";
/// Whether a `with` may hold an `insert ... returning` (a data-modifying CTE): PostgreSQL's
/// does, so one statement may write and then read.
const WRITABLE_WITH: bool = true;

/// Serialises this transaction with every other one that locks `user_id`, until it ends.
/// Two users may share a key (64 bits folded from 128); that only costs a little waiting.
async fn lock_user(conn: &mut PgConnection, user_id: Uuid) -> StoreResult<()> {
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

/// Binds a UUID as itself: every id column is `uuid`.
fn id(uuid: Uuid) -> Uuid {
    uuid
}

/// Reads a `uuid` column.
fn uuid_col(row: &PgRow, col: &str) -> StoreResult<Uuid> {
    Ok(sqlx::Row::try_get(row, col)?)
}

/// Reads a nullable `uuid` column.
fn opt_uuid_col(row: &PgRow, col: &str) -> StoreResult<Option<Uuid>> {
    Ok(sqlx::Row::try_get(row, col)?)
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
