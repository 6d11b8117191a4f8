//! `ApiKeyStore`, both backends. A new key is counted against the owner's live keys and
//! inserted in one statement under the owner's lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL:
//! the owner's advisory lock), so concurrent creates on any node cannot overshoot the cap.
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use crate::error::Constraint;
use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{audit, id, lock_user, users::insert_user, uuid_col, BackendStore, DbConn, DbRow};
use crate::audit_chain::AuditEvent;
use crate::error::{StoreError, StoreResult};
use crate::model::{from_unix_ms, to_unix_ms, ApiKeyRecord, NewApiKey, NewUser, User};
use crate::traits::ApiKeyStore;

const KEY_COLUMNS: &str = "api_key_id, user_id, name, prefix, key_hash, created_at, last_used_at";

/// A live key and its owner: the user's columns under their own names, the key's creation
/// time as `key_created_at`.
const KEY_WITH_OWNER: &str = "select k.api_key_id, k.name, k.prefix, k.key_hash, \
     k.created_at as key_created_at, k.last_used_at, u.user_id, u.email, u.password_hash, \
     u.created_at, u.role, u.disabled_at, u.secrets_default \
     from api_key k join app_user u on u.user_id = k.user_id \
     where k.key_hash = $1 and k.revoked_at is null";

pub(super) async fn insert_key(conn: &mut DbConn, key: &NewApiKey) -> StoreResult<()> {
    sqlx::query(
        "insert into api_key (api_key_id, user_id, name, prefix, key_hash, created_at, \
         updated_at) values ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(id(key.id))
    .bind(id(key.user_id))
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(&key.key_hash)
    .bind(to_unix_ms(key.created_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts `key` unless its owner already holds `max_live` live keys; `false` when refused.
/// Run it inside a transaction holding the owner's lock: SQLite's write lock makes
/// count-then-insert atomic; on PostgreSQL each statement of a read-committed transaction
/// sees what the previous holder of the advisory lock committed, so it is atomic there too.
async fn insert_key_within_quota(
    conn: &mut DbConn,
    key: &NewApiKey,
    max_live: u32,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "insert into api_key (api_key_id, user_id, name, prefix, key_hash, created_at, \
         updated_at) select $1, $2, $3, $4, $5, $6, $6 \
         where (select count(*) from api_key where user_id = $2 and revoked_at is null) < $7",
    )
    .bind(id(key.id))
    .bind(id(key.user_id))
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(&key.key_hash)
    .bind(to_unix_ms(key.created_at))
    .bind(i64::from(max_live))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn key_from_row(row: &DbRow) -> StoreResult<ApiKeyRecord> {
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
impl ApiKeyStore for BackendStore {
    #[tracing::instrument(skip_all, fields(user.id = %key.user_id, api_key.id = %key.id))]
    async fn create_api_key(
        &self,
        key: &NewApiKey,
        max_live_keys: u32,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, key.user_id).await?;
        if let Some(event) = audit.filter(|e| e.user_id != key.user_id) {
            // Not expected (the event is the owner's), but the chain it extends needs its lock.
            lock_user(&mut tx, event.user_id).await?;
        }
        if !insert_key_within_quota(&mut tx, key, max_live_keys).await? {
            return Err(StoreError::conflict(Constraint::ApiKeyQuota));
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
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, audit.user_id).await?;
        insert_user(&mut tx, user).await?;
        insert_key(&mut tx, key).await?;
        audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn api_key_by_hash(&self, key_hash: &[u8]) -> StoreResult<Option<ApiKeyRecord>> {
        let sql =
            format!("select {KEY_COLUMNS} from api_key where key_hash = $1 and revoked_at is null");
        let row = sqlx::query(&sql)
            .bind(key_hash)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn api_key_with_owner(
        &self,
        key_hash: &[u8],
    ) -> StoreResult<Option<(ApiKeyRecord, User)>> {
        let row = sqlx::query(KEY_WITH_OWNER)
            .bind(key_hash)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        // `created_at` in this row is the user's: the key's comes as `key_created_at`.
        let key = ApiKeyRecord {
            created_at: from_unix_ms(row.try_get("key_created_at")?)?,
            ..key_from_row(&row)?
        };
        Ok(Some((key, super::users::user_from_row(&row)?)))
    }

    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKeyRecord>> {
        let sql = format!(
            "select {KEY_COLUMNS} from api_key where user_id = $1 and revoked_at is null \
             order by created_at, api_key_id"
        );
        let rows = sqlx::query(&sql)
            .bind(id(user_id))
            .fetch_all(&mut *self.reader().await?)
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
        let revoke = sqlx::query(
            "update api_key set revoked_at = $1, updated_at = $1 \
             where api_key_id = $2 and user_id = $3 and revoked_at is null",
        )
        .bind(to_unix_ms(at))
        .bind(id(key_id))
        .bind(id(user_id));
        self.change_audited(audit.user_id, revoke, audit).await
    }

    async fn touch_api_key(&self, key_id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("update api_key set last_used_at = $1 where api_key_id = $2")
            .bind(to_unix_ms(at))
            .bind(id(key_id))
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }
}
