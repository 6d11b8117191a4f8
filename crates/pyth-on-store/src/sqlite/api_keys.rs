//! SQLite `ApiKeyStore`. A new key is counted against the owner's live keys and inserted in
//! one statement under `BEGIN IMMEDIATE`, so concurrent creates cannot overshoot the cap.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{audit, id, users::insert_user, uuid_col, SqliteStore};
use crate::audit_chain::AuditEvent;
use crate::error::{StoreError, StoreResult};
use crate::model::{from_unix_ms, to_unix_ms, ApiKeyRecord, NewApiKey, NewUser};
use crate::traits::ApiKeyStore;

const KEY_COLUMNS: &str = "api_key_id, user_id, name, prefix, key_hash, created_at, last_used_at";

async fn insert_key(conn: &mut SqliteConnection, key: &NewApiKey) -> StoreResult<()> {
    let created = to_unix_ms(key.created_at);
    sqlx::query(
        "insert into api_key (api_key_id, user_id, name, prefix, key_hash, created_at, \
         updated_at) values (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id(key.id))
    .bind(id(key.user_id))
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(&key.key_hash)
    .bind(created)
    .bind(created)
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts `key` unless its owner already holds `max_live` live keys; `false` when refused.
/// Run it inside a `BEGIN IMMEDIATE` transaction: the write lock makes count-then-insert atomic.
async fn insert_key_within_quota(
    conn: &mut SqliteConnection,
    key: &NewApiKey,
    max_live: u32,
) -> StoreResult<bool> {
    let created = to_unix_ms(key.created_at);
    let done = sqlx::query(
        "insert into api_key (api_key_id, user_id, name, prefix, key_hash, created_at, \
         updated_at) select ?1, ?2, ?3, ?4, ?5, ?6, ?6 \
         where (select count(*) from api_key where user_id = ?2 and revoked_at is null) < ?7",
    )
    .bind(id(key.id))
    .bind(id(key.user_id))
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(&key.key_hash)
    .bind(created)
    .bind(i64::from(max_live))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn key_from_row(row: &SqliteRow) -> StoreResult<ApiKeyRecord> {
    let last_used: Option<i64> = row.try_get("last_used_at")?;
    Ok(ApiKeyRecord {
        id: uuid_col(row, "api_key_id")?,
        user_id: uuid_col(row, "user_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        key_hash: row.try_get("key_hash")?,
        created_at: from_unix_ms(row.try_get("created_at")?)?,
        last_used_at: last_used.map(from_unix_ms).transpose()?,
    })
}

#[async_trait]
impl ApiKeyStore for SqliteStore {
    #[tracing::instrument(skip_all, fields(user.id = %key.user_id, api_key.id = %key.id))]
    async fn create_api_key(
        &self,
        key: &NewApiKey,
        max_live_keys: u32,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_immediate().await?;
        if !insert_key_within_quota(&mut tx, key, max_live_keys).await? {
            return Err(StoreError::conflict("api_key_quota"));
        }
        if let Some(event) = audit {
            audit::append(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(user.id = %user.id, api_key.id = %key.id))]
    async fn create_user_with_key(
        &self,
        user: &NewUser,
        key: &NewApiKey,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let mut tx = self.begin_immediate().await?;
        insert_user(&mut tx, user).await?;
        insert_key(&mut tx, key).await?;
        audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn api_key_by_hash(&self, key_hash: &[u8]) -> StoreResult<Option<ApiKeyRecord>> {
        let sql =
            format!("select {KEY_COLUMNS} from api_key where key_hash = ? and revoked_at is null");
        let row = sqlx::query(&sql)
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKeyRecord>> {
        let sql = format!(
            "select {KEY_COLUMNS} from api_key where user_id = ? and revoked_at is null \
             order by created_at, api_key_id"
        );
        let rows = sqlx::query(&sql)
            .bind(id(user_id))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id, api_key.id = %key_id))]
    async fn revoke_api_key(
        &self,
        user_id: Uuid,
        key_id: Uuid,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let at = to_unix_ms(at);
        let mut tx = self.begin_immediate().await?;
        let done = sqlx::query(
            "update api_key set revoked_at = ?, updated_at = ? \
             where api_key_id = ? and user_id = ? and revoked_at is null",
        )
        .bind(at)
        .bind(at)
        .bind(id(key_id))
        .bind(id(user_id))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn touch_api_key(&self, key_id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("update api_key set last_used_at = ? where api_key_id = ?")
            .bind(to_unix_ms(at))
            .bind(id(key_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
