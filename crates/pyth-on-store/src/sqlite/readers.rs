//! The SQLite store's read-only connections ([`Readers`]): opened as needed up to a bound,
//! lent out one caller at a time, taken back as they are.
//!
//! Not an sqlx pool, for the reason of [`super::writer`]: the pool pings every connection it
//! gets back, a round trip to the connection's worker thread in a task of its own, so every
//! read cost two thread hand-offs more than the read. A connection lent here goes back
//! unchecked: it is a file handle on a worker thread, and a read whose caller went away
//! still runs to its end there, before anything the next caller sends.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::StoreResult;

/// Up to `max` read-only connections to one database.
#[derive(Debug, Clone)]
pub(super) struct Readers {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// How each connection is opened (read-only).
    options: SqliteConnectOptions,
    /// One permit per connection that may be lent at once; closed by [`Readers::close`].
    permits: Arc<Semaphore>,
    /// Connections opened and not lent.
    idle: Mutex<Vec<SqliteConnection>>,
    acquire_timeout: Duration,
}

impl Readers {
    /// Opens one connection now (so a bad path fails at start) and up to `max` as needed.
    pub(super) async fn open(
        options: SqliteConnectOptions,
        max: u32,
        acquire_timeout: Duration,
    ) -> StoreResult<Self> {
        let first = SqliteConnection::connect_with(&options).await?;
        let shared = Shared {
            options,
            permits: Arc::new(Semaphore::new(max.max(1) as usize)),
            idle: Mutex::new(vec![first]),
            acquire_timeout,
        };
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// A connection, once one is free (at most `acquire_timeout` later).
    pub(super) async fn conn(&self) -> StoreResult<ReadConn> {
        let permit = self.shared.permits.clone().acquire_owned();
        let permit = tokio::time::timeout(self.shared.acquire_timeout, permit)
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let conn = match self.shared.take_idle() {
            Some(conn) => conn,
            None => SqliteConnection::connect_with(&self.shared.options).await?,
        };
        Ok(ReadConn {
            conn: Some(conn),
            _permit: permit,
            shared: self.shared.clone(),
        })
    }

    /// Refuses every later [`Readers::conn`] (`StoreError::Unavailable`) and closes the idle
    /// connections.
    pub(super) async fn close(&self) {
        self.shared.permits.close();
        while let Some(conn) = self.shared.take_idle() {
            let _ = conn.close().await;
        }
    }
}

impl Shared {
    fn take_idle(&self) -> Option<SqliteConnection> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }
}

/// A reading connection lent to one caller, back to [`Readers`] when dropped.
#[derive(Debug)]
pub(super) struct ReadConn {
    conn: Option<SqliteConnection>,
    _permit: OwnedSemaphorePermit,
    shared: Arc<Shared>,
}

impl std::ops::Deref for ReadConn {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.conn.as_ref().expect("lent until dropped")
    }
}

impl std::ops::DerefMut for ReadConn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn.as_mut().expect("lent until dropped")
    }
}

impl Drop for ReadConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // Checked under the idle list's lock, which `close` drains after closing: a
        // connection given back meanwhile is either drained or not put back.
        let mut idle = self
            .shared
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !self.shared.permits.is_closed() {
            idle.push(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    async fn readers(dir: &tempfile::TempDir, max: u32) -> Readers {
        let url = format!("sqlite://{}/r.db", dir.path().display());
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        Readers::open(options, max, Duration::from_millis(200))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn connections_are_opened_up_to_the_bound_and_lent_again_when_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let readers = readers(&dir, 2).await;

        let first = readers.conn().await.unwrap();
        let second = readers.conn().await.unwrap();
        let third = readers.conn().await.expect_err("both lent");
        assert!(
            matches!(third, crate::StoreError::Unavailable(_)),
            "{third:?}"
        );
        drop(first);
        let mut again = readers.conn().await.expect("one given back");
        let one: i64 = sqlx::query_scalar("select 1")
            .fetch_one(&mut *again)
            .await
            .unwrap();

        assert_eq!(one, 1);
        drop(second);
        assert_eq!(readers.shared.idle.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_closed_set_refuses_as_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let readers = readers(&dir, 2).await;

        readers.close().await;
        let err = readers.conn().await.expect_err("closed");

        assert!(matches!(err, crate::StoreError::Unavailable(_)), "{err:?}");
    }
}
