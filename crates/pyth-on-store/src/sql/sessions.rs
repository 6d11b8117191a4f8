//! `SessionRecordStore`, both backends: one row per open session, naming the node holding it.
//! Not audited (a session's `session.create` and `session.end` entries are its audit trail):
//! plain single statements.
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{id, uuid_col, BackendStore, DbConn, DbRow};
use crate::error::StoreResult;
use crate::model::{from_unix_ms, to_unix_ms, SessionRecord};
use crate::traits::SessionRecordStore;

fn record_from_row(row: &DbRow) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        session_id: uuid_col(row, "session_id")?,
        user_id: uuid_col(row, "user_id")?,
        node_url: row.try_get("node_url")?,
        node_instance: uuid_col(row, "node_instance")?,
        language: row.try_get("language")?,
        memory_mb: row.try_get("memory_mb")?,
        idle_timeout_secs: row.try_get("idle_timeout_secs")?,
        max_lifetime_secs: row.try_get("max_lifetime_secs")?,
        created_at: from_unix_ms(row.try_get("created_at")?)?,
        last_used_at: from_unix_ms(row.try_get("last_used_at")?)?,
        expires_at: from_unix_ms(row.try_get("expires_at")?)?,
    })
}

/// Inserts `record` (on `conn`, inside a transaction or not).
pub(super) async fn insert_record(conn: &mut DbConn, record: &SessionRecord) -> StoreResult<()> {
    sqlx::query(
        "insert into session_record (session_id, user_id, node_url, node_instance, language, \
         memory_mb, idle_timeout_secs, max_lifetime_secs, created_at, last_used_at, \
         expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id(record.session_id))
    .bind(id(record.user_id))
    .bind(&record.node_url)
    .bind(id(record.node_instance))
    .bind(&record.language)
    .bind(record.memory_mb)
    .bind(record.idle_timeout_secs)
    .bind(record.max_lifetime_secs)
    .bind(to_unix_ms(record.created_at))
    .bind(to_unix_ms(record.last_used_at))
    .bind(to_unix_ms(record.expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl SessionRecordStore for BackendStore {
    #[tracing::instrument(skip_all, fields(user.id = %record.user_id))]
    async fn put_session_record(&self, record: &SessionRecord) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        insert_record(&mut conn, record).await
    }

    async fn session_record(&self, session_id: Uuid) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query("select * from session_record where session_id = $1")
            .bind(id(session_id))
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    async fn session_records_of(&self, user_id: Uuid) -> StoreResult<Vec<SessionRecord>> {
        let rows = sqlx::query(
            "select * from session_record where user_id = $1 order by created_at, session_id",
        )
        .bind(id(user_id))
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn touch_session_record(
        &self,
        session_id: Uuid,
        last_used_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "update session_record set last_used_at = $2, expires_at = $3 where session_id = $1",
        )
        .bind(id(session_id))
        .bind(to_unix_ms(last_used_at))
        .bind(to_unix_ms(expires_at))
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    async fn delete_session_record(&self, session_id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query("delete from session_record where session_id = $1")
            .bind(id(session_id))
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_session_records_left_by(
        &self,
        node_url: &str,
        instance: Uuid,
    ) -> StoreResult<Vec<SessionRecord>> {
        let rows = sqlx::query(
            "delete from session_record where node_url = $1 and node_instance <> $2 \
             returning *",
        )
        .bind(node_url)
        .bind(id(instance))
        .fetch_all(&mut *self.writer().await?)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn delete_session_records_expired(
        &self,
        before: OffsetDateTime,
    ) -> StoreResult<Vec<SessionRecord>> {
        let rows = sqlx::query("delete from session_record where expires_at < $1 returning *")
            .bind(to_unix_ms(before))
            .fetch_all(&mut *self.writer().await?)
            .await?;
        rows.iter().map(record_from_row).collect()
    }
}
