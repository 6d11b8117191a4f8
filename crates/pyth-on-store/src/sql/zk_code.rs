//! `ZkCodeStore`, both backends: the per-user quota is checked and applied under the user's
//! lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: the user's advisory lock), so concurrent puts
//! cannot both pass it.
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use crate::error::Constraint;
use async_trait::async_trait;
use sqlx::Row;
use uuid::Uuid;

use super::{audit, id, lock_user, uuid_col, BackendStore, DbRow, BYTEWISE};
use crate::audit_chain::AuditEvent;
use crate::error::{StoreError, StoreResult};
use crate::model::{from_unix_ms, to_unix_ms, PutOutcome, ZkCodeRow};
use crate::traits::ZkCodeStore;

const ZK_COLUMNS: &str =
    "user_id, name, language, payload, size, kdf_m, kdf_t, kdf_p, created_at, updated_at";

fn zk_from_row(row: &DbRow) -> StoreResult<ZkCodeRow> {
    Ok(ZkCodeRow {
        user_id: uuid_col(row, "user_id")?,
        name: row.try_get("name")?,
        language: row.try_get("language")?,
        payload: row.try_get("payload")?,
        size: row.try_get("size")?,
        kdf_m: row.try_get("kdf_m")?,
        kdf_t: row.try_get("kdf_t")?,
        kdf_p: row.try_get("kdf_p")?,
        created_at: from_unix_ms(row.try_get("created_at")?)?,
        updated_at: from_unix_ms(row.try_get("updated_at")?)?,
    })
}

/// `put_zk_code`, refused with `Conflict` on [`Constraint::StorageQuota`] when the user's
/// payloads would hold more than `max_bytes` after it (`i64::MAX`: no bound), all under the
/// user's lock.
pub(super) async fn put_within(
    store: &BackendStore,
    row: &ZkCodeRow,
    (max_items, max_bytes): (u32, i64),
    audit: &AuditEvent,
) -> StoreResult<PutOutcome> {
    let mut tx = store.begin_write().await?;
    lock_user(&mut tx, row.user_id).await?;
    if max_bytes < i64::MAX {
        let others: i64 = sqlx::query_scalar(
            "select coalesce(sum(length(payload)), 0) from zk_code \
             where user_id = $1 and name <> $2",
        )
        .bind(id(row.user_id))
        .bind(&row.name)
        .fetch_one(&mut *tx)
        .await?;
        let own = i64::try_from(row.payload.len()).unwrap_or(i64::MAX);
        if others.saturating_add(own) > max_bytes {
            return Err(StoreError::conflict(Constraint::StorageQuota));
        }
    }
    let replaced = sqlx::query(
        "update zk_code set language = $1, payload = $2, size = $3, kdf_m = $4, \
         kdf_t = $5, kdf_p = $6, updated_at = $7 where user_id = $8 and name = $9",
    )
    .bind(&row.language)
    .bind(&row.payload)
    .bind(row.size)
    .bind(row.kdf_m)
    .bind(row.kdf_t)
    .bind(row.kdf_p)
    .bind(to_unix_ms(row.updated_at))
    .bind(id(row.user_id))
    .bind(&row.name)
    .execute(&mut *tx)
    .await?;
    let outcome = if replaced.rows_affected() == 1 {
        PutOutcome::Replaced
    } else {
        let count: i64 = sqlx::query_scalar("select count(*) from zk_code where user_id = $1")
            .bind(id(row.user_id))
            .fetch_one(&mut *tx)
            .await?;
        if count >= i64::from(max_items) {
            return Err(StoreError::conflict(Constraint::ZkCodeQuota));
        }
        sqlx::query(
            "insert into zk_code (user_id, name, language, payload, size, kdf_m, kdf_t, \
             kdf_p, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id(row.user_id))
        .bind(&row.name)
        .bind(&row.language)
        .bind(&row.payload)
        .bind(row.size)
        .bind(row.kdf_m)
        .bind(row.kdf_t)
        .bind(row.kdf_p)
        .bind(to_unix_ms(row.created_at))
        .bind(to_unix_ms(row.updated_at))
        .execute(&mut *tx)
        .await?;
        PutOutcome::Created
    };
    audit::append(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(outcome)
}

#[async_trait]
impl ZkCodeStore for BackendStore {
    #[tracing::instrument(skip_all, fields(user.id = %row.user_id, zk.name = %row.name))]
    async fn put_zk_code(
        &self,
        row: &ZkCodeRow,
        max_items: u32,
        audit: &AuditEvent,
    ) -> StoreResult<PutOutcome> {
        put_within(self, row, (max_items, i64::MAX), audit).await
    }

    async fn get_zk_code(&self, user_id: Uuid, name: &str) -> StoreResult<Option<ZkCodeRow>> {
        let sql = format!("select {ZK_COLUMNS} from zk_code where user_id = $1 and name = $2");
        let row = sqlx::query(&sql)
            .bind(id(user_id))
            .bind(name)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        row.as_ref().map(zk_from_row).transpose()
    }

    async fn list_zk_code(&self, user_id: Uuid) -> StoreResult<Vec<ZkCodeRow>> {
        // Byte-wise, whatever the database locale.
        let sql =
            format!("select {ZK_COLUMNS} from zk_code where user_id = $1 order by name{BYTEWISE}");
        let rows = sqlx::query(&sql)
            .bind(id(user_id))
            .fetch_all(&mut *self.reader().await?)
            .await?;
        rows.iter().map(zk_from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id, zk.name = %name))]
    async fn delete_zk_code(
        &self,
        user_id: Uuid,
        name: &str,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let delete = sqlx::query("delete from zk_code where user_id = $1 and name = $2")
            .bind(id(user_id))
            .bind(name);
        self.change_audited(user_id, delete, audit).await
    }
}
