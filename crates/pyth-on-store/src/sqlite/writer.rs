//! The SQLite store's one writing connection, which writers take in turn ([`Writer`]).
//!
//! Not an sqlx pool of one: a pool pings every connection it gets back (a round trip to
//! the connection's worker thread, in a task of its own) before the next caller may have
//! it, so every write waited for the previous write's ping, and sqlx's `BEGIN IMMEDIATE`
//! asks the connection once more whether it is in a transaction. Measured on this machine
//! (sqlx 0.8, WAL, `synchronous=NORMAL`, one caller): a write through the pool of one
//! 137-172 µs, on a connection held 56-86 µs.
//!
//! What the pool's ping was for, a connection left in an unknown state by a caller that went
//! away mid-statement, is handled here. A [`WriteConn`] dropped inside its transaction (an
//! error returned from it, a caller gone) is rolled back at once by a task that holds the
//! connection until it is done: the transaction holds SQLite's write lock, which another
//! process on the same file (a second server, the CLI) waits for. Should that task never run
//! (the runtime is going away), the connection stays marked and the next writer rolls back
//! before its own work. A command the caller already sent is finished (or, for a query of
//! several statements, stopped at its next result) on the worker thread before anything the
//! next writer sends, so the rollback comes after it.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqliteConnection;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::error::StoreResult;

/// The writing connection, and whether a transaction on it may have been left open.
#[derive(Debug)]
struct Slot {
    conn: SqliteConnection,
    /// A [`WriteConn`] was dropped between its `BEGIN` and its `COMMIT`.
    in_doubt: bool,
}

/// The one writing connection. Writers queue for it in order (tokio's mutex is fair) and
/// wait at most `acquire_timeout`, as they did for the pool.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    slot: Arc<Mutex<Slot>>,
    acquire_timeout: Duration,
}

impl Writer {
    /// Takes over `conn` as the writing connection.
    pub(super) fn new(conn: SqliteConnection, acquire_timeout: Duration) -> Self {
        let slot = Slot {
            conn,
            in_doubt: false,
        };
        Self {
            slot: Arc::new(Mutex::new(slot)),
            acquire_timeout,
        }
    }

    /// The connection, once the writers before have finished, for single statements.
    pub(super) async fn conn(&self) -> StoreResult<WriteConn> {
        let mut guard = tokio::time::timeout(self.acquire_timeout, self.slot.clone().lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        if guard.in_doubt {
            roll_back(&mut guard).await;
        }
        Ok(WriteConn {
            guard: Some(guard),
            open: false,
        })
    }

    /// The connection in a transaction that holds SQLite's write lock from its start (`BEGIN
    /// IMMEDIATE`), so a read-then-write inside cannot race another writer. Rolled back
    /// unless [`WriteConn::commit`]ted.
    pub(super) async fn begin(&self) -> StoreResult<WriteConn> {
        // Open from before `BEGIN` is sent: a caller that goes away during it leaves it to
        // be rolled back, not open and unknown.
        let mut conn = self.begin_in_statement().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        Ok(conn)
    }

    /// [`Writer::begin`] without sending the `BEGIN`: the caller's first statement begins
    /// the transaction (`BEGIN IMMEDIATE; ...`, one round trip).
    pub(super) async fn begin_in_statement(&self) -> StoreResult<WriteConn> {
        let mut conn = self.conn().await?;
        conn.open = true;
        Ok(conn)
    }
}

/// The writing connection, held: by one caller's statements, or by one transaction
/// ([`Writer::begin`]) until [`WriteConn::commit`] or drop (rolled back).
#[derive(Debug)]
pub(super) struct WriteConn {
    /// Always there until dropped.
    guard: Option<OwnedMutexGuard<Slot>>,
    /// Inside a transaction this holder began and has not committed.
    open: bool,
}

impl WriteConn {
    /// Commits the transaction ([`Writer::begin`]).
    pub(super) async fn commit(mut self) -> StoreResult<()> {
        sqlx::query("COMMIT").execute(&mut *self).await?;
        self.open = false;
        Ok(())
    }

    /// The transaction's last statement committed it (`...; COMMIT`).
    pub(super) fn committed_in_statement(mut self) {
        self.open = false;
    }
}

impl Deref for WriteConn {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.guard.as_ref().expect("held until dropped").conn
    }
}

impl DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.guard.as_mut().expect("held until dropped").conn
    }
}

impl Drop for WriteConn {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        if !self.open {
            return;
        }
        guard.in_doubt = true;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { roll_back(&mut guard).await });
        }
    }
}

/// Rolls back the transaction a dropped [`WriteConn`] may have left open. Fails harmlessly
/// when none is (its `BEGIN` never ran, its `COMMIT` went through).
async fn roll_back(slot: &mut Slot) {
    let _ = sqlx::query("ROLLBACK").execute(&mut slot.conn).await;
    slot.in_doubt = false;
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::Connection;

    use super::*;

    fn url(dir: &tempfile::TempDir) -> String {
        format!("sqlite://{}/w.db", dir.path().display())
    }

    async fn writer(dir: &tempfile::TempDir) -> Writer {
        let options = SqliteConnectOptions::from_str(&url(dir))
            .unwrap()
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::query("create table t (v integer)")
            .execute(&mut conn)
            .await
            .unwrap();
        Writer::new(conn, Duration::from_millis(200))
    }

    async fn insert(conn: &mut SqliteConnection, value: i64) {
        sqlx::query("insert into t values ($1)")
            .bind(value)
            .execute(conn)
            .await
            .expect("inserted");
    }

    async fn rows(writer: &Writer) -> i64 {
        let mut conn = writer.conn().await.unwrap();
        sqlx::query_scalar("select count(*) from t")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_committed_transaction_stays_and_a_dropped_one_is_rolled_back_before_the_next_writer()
    {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(&dir).await;
        let mut tx = writer.begin().await.unwrap();
        insert(&mut tx, 1).await;
        tx.commit().await.unwrap();

        let mut tx = writer.begin().await.unwrap();
        insert(&mut tx, 2).await;
        drop(tx);

        assert_eq!(rows(&writer).await, 1);
        // And the connection takes a new transaction (none was left open).
        let tx = writer.begin().await.unwrap();
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn a_caller_gone_during_begin_leaves_no_transaction_open_for_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(&dir).await;
        let mut other = SqliteConnection::connect(&url(&dir)).await.unwrap();
        for polls in 0..6 {
            // Poll `begin` a few times, then drop it wherever it got to.
            let mut begin = Box::pin(writer.begin());
            for _ in 0..polls {
                if poll_once(begin.as_mut()).await {
                    break;
                }
            }
            drop(begin);
            let mut conn = writer.conn().await.unwrap();
            insert(&mut conn, 1).await;
            drop(conn);

            // Committed, so another connection sees it: not inside a transaction left open.
            let seen: i64 = sqlx::query_scalar("select count(*) from t")
                .fetch_one(&mut other)
                .await
                .unwrap();
            assert_eq!(seen, polls + 1, "after {polls} polls");
        }
    }

    #[tokio::test]
    async fn a_transaction_dropped_open_lets_go_of_the_write_lock_for_other_connections_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(&dir).await;
        let options = SqliteConnectOptions::from_str(&url(&dir))
            .unwrap()
            .busy_timeout(Duration::from_secs(2));
        let mut other = SqliteConnection::connect_with(&options).await.unwrap();

        let mut tx = writer.begin().await.unwrap();
        insert(&mut tx, 1).await;
        drop(tx);
        // Another process's writer (as a second server or the CLI on the same file would).
        let started = std::time::Instant::now();
        insert(&mut other, 2).await;

        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(rows(&writer).await, 1);
    }

    #[tokio::test]
    async fn a_writer_waits_its_turn_and_gives_up_after_the_acquire_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(&dir).await;
        let held = writer.begin().await.unwrap();

        let err = writer.conn().await.expect_err("timed out");

        assert!(matches!(err, crate::StoreError::Unavailable(_)), "{err:?}");
        drop(held);
        assert_eq!(rows(&writer).await, 0);
    }

    /// Polls `future` once (after a moment for the worker thread to move on): whether it
    /// is done.
    async fn poll_once<F: std::future::Future + Unpin>(mut future: F) -> bool {
        tokio::time::sleep(Duration::from_micros(50)).await;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut future).poll(cx).is_ready())
        })
        .await
    }
}
