//! The SQLite store: one WAL-mode database file. Writers that must not interleave (audit
//! chain, refresh rotation, quotas, rate limits) use `BEGIN IMMEDIATE`, which takes SQLite's
//! single write lock up front so the read-then-write inside cannot race another writer.

// The store methods, one copy for both backends (see `crate::sql`'s note in lib.rs): each
// file is compiled once here and once in `postgres`, `super` being the backend.
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

mod readers;
#[cfg(test)]
mod tests;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteRow, SqliteSynchronous};
use sqlx::{Connection, Row, Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::audit_heads::AuditHeads;
use crate::error::{StoreError, StoreResult};
use crate::traits::Store;
use crate::{migrate_error, ConnectOptions};
use readers::{ReadConn, Readers};
use writer::{WriteConn, Writer};

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Read-only connections: every read, in parallel with each other and with the writer.
    readers: Readers,
    /// The one connection that writes: writers wait their turn in its queue instead of in
    /// SQLite's busy handler, which polls for the lock with sleeps of 1 ms and more.
    writer: Writer,
    /// The head of each user's audit chain as this node last wrote it: lets a run's record
    /// go in one round trip (`sql/remembered_head.rs`).
    heads: Arc<AuditHeads>,
}

impl SqliteStore {
    /// Opens (creating it with mode 0600 if missing) the database at `url`, with WAL,
    /// foreign keys, `synchronous=NORMAL` and a busy timeout, and applies migrations.
    ///
    /// Writes go through one connection and reads through up to `max_connections` read-only
    /// ones. SQLite has one write lock; with several writing connections, a writer that finds
    /// it taken sleeps in the busy handler (1, 2, 5, 10 ms ...) however soon it is free again:
    /// under load that was a few such sleeps per run. Queued for the one writing connection,
    /// the next writer starts the moment the last one commits. A write sent to a reading
    /// connection fails (`readonly database`), so none can take the lock behind the queue.
    pub async fn connect(url: &str, options: &ConnectOptions) -> StoreResult<Self> {
        let connect = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.busy_timeout);
        create_private_file(connect.get_filename())?;
        let mut writer = SqliteConnection::connect_with(&connect).await?;
        // `run_direct`: `run(&mut writer)` makes this future `Send` for one lifetime only
        // (`Acquire` for `&mut SqliteConnection`), so a caller could not spawn it.
        sqlx::migrate!("./migrations/sqlite")
            .run_direct(&mut writer)
            .await
            .map_err(migrate_error)?;
        let writer = Writer::new(writer, options.acquire_timeout);
        let readers = connect.create_if_missing(false).read_only(true);
        let readers =
            Readers::open(readers, options.max_connections, options.acquire_timeout).await?;
        Ok(Self {
            readers,
            writer,
            heads: Arc::default(),
        })
    }

    /// Closes the reading connections: every read after fails with `StoreError::Unavailable`
    /// (for tests).
    pub async fn close_readers(&self) {
        self.readers.close().await;
    }

    /// A reading connection, once one is free.
    async fn reader(&self) -> StoreResult<ReadConn> {
        self.readers.conn().await
    }

    /// A transaction for changes that must not interleave with another writer's: it holds
    /// SQLite's single write lock from its first statement (`BEGIN IMMEDIATE`), so a
    /// read-then-write inside it cannot race another writer.
    async fn begin_write(&self) -> StoreResult<WriteTx> {
        self.writer.begin().await
    }

    /// [`Self::begin_write`] whose `BEGIN IMMEDIATE` goes with the transaction's first
    /// statement, which starts with [`BEGIN_IN_STATEMENT`]: one round trip fewer.
    async fn begin_write_in_statement(&self) -> StoreResult<WriteTx> {
        self.writer.begin_in_statement().await
    }

    /// The heads of audit chains this node remembers: set by a run's record and by
    /// `append_audit` and `change_audited` (session cells among them). Other audited changes
    /// (a sign-in, a secret, a key), another process on the same file or a race between two
    /// of this node's writers leave it stale: the user's next run then takes the
    /// two-statement path, one round trip more.
    fn remembered_heads(&self) -> Option<&AuditHeads> {
        Some(&self.heads)
    }

    /// Where a single statement that writes goes (outside [`Self::begin_write`]): the
    /// writing connection, once the writers before are done.
    async fn writer(&self) -> StoreResult<WriteConn> {
        self.writer.conn().await
    }
}

// What the shared store code (`src/sql/*.rs`) needs of this backend: its dialect.

/// This backend, as sqlx names it.
type Db = Sqlite;
/// The store type the shared code implements the traits for.
type BackendStore = SqliteStore;
/// A connection of this backend (inside a transaction or not).
type DbConn = SqliteConnection;
/// A write transaction ([`SqliteStore::begin_write`]): `commit` it, or drop it to roll back.
type WriteTx = WriteConn;
/// Put before the first statement of a transaction opened by
/// [`SqliteStore::begin_write_in_statement`]: it begins the transaction in the same round trip
/// (a query of several statements runs them in turn on the connection's worker thread,
/// `$N` naming the same argument in each; run it with `fetch_all` or `execute`, which run
/// every statement, never `fetch_one`/`fetch_optional`, which stop at the first row).
const BEGIN_IN_STATEMENT: &str = "BEGIN IMMEDIATE; ";
/// Put after the last statement of a transaction, then [`commit_after`]: it commits in the
/// same round trip.
const COMMIT_IN_STATEMENT: &str = "; COMMIT";

/// Ends `tx` whose last statement ended with [`COMMIT_IN_STATEMENT`] (already committed).
async fn commit_after(tx: WriteTx) -> StoreResult<()> {
    tx.committed_in_statement();
    Ok(())
}
/// A result row of this backend.
type DbRow = SqliteRow;
/// Appended to an `order by` term to sort text byte-wise: SQLite's default BINARY collation
/// already does.
const BYTEWISE: &str = "";
/// Appended to a `select` whose rows the transaction goes on to change: nothing, SQLite has
/// no row locks and `begin_write` already holds the database's write lock.
const FOR_UPDATE: &str = "";
/// Whether a `with` may hold an `insert ... returning` (a data-modifying CTE): not in SQLite,
/// so a store call that must write and then read takes two statements.
const WRITABLE_WITH: bool = false;

/// Serialises this transaction with every other one that changes `user_id`'s rows: nothing
/// to do, as every write transaction (`begin_write`) already holds SQLite's one write lock.
async fn lock_user(_conn: &mut SqliteConnection, _user_id: Uuid) -> StoreResult<()> {
    Ok(())
}

/// Creates the database file readable by its owner only, so SQLite (which copies the main
/// file's permissions to `-wal`/`-shm`) never makes it world-readable. Existing files are
/// left alone.
fn create_private_file(path: &Path) -> StoreResult<()> {
    if path.as_os_str().is_empty() || path == Path::new(":memory:") {
        return Ok(());
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Other(
            anyhow::Error::new(e).context(format!("creating database file {}", path.display())),
        )),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("select 1")
            .execute(&mut *self.reader().await?)
            .await?;
        sqlx::query("select 1")
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

/// Reads a hyphenated-text UUID column.
fn uuid_col(row: &SqliteRow, col: &str) -> StoreResult<Uuid> {
    let text: String = row.try_get(col)?;
    Uuid::parse_str(&text).map_err(|e| StoreError::corrupt(col, e))
}

/// Reads a nullable hyphenated-text UUID column.
fn opt_uuid_col(row: &SqliteRow, col: &str) -> StoreResult<Option<Uuid>> {
    let text: Option<String> = row.try_get(col)?;
    text.map(|t| Uuid::parse_str(&t).map_err(|e| StoreError::corrupt(col, e)))
        .transpose()
}

/// Binds UUIDs as hyphenated text, the format every id column holds.
fn id(uuid: Uuid) -> String {
    uuid.hyphenated().to_string()
}
