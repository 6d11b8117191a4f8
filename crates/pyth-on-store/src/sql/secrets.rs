//! `SecretStore`, both backends: optimistic versions and the per-user quota are checked and
//! applied under the user's lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: the user's advisory
//! lock), so concurrent puts cannot both pass the checks.
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use crate::error::Constraint;
use async_trait::async_trait;
use sqlx::Row;
use uuid::Uuid;

use super::{audit, id, lock_user, uuid_col, BackendStore, DbConn, DbRow};
use crate::audit_chain::AuditEvent;
use crate::error::{StoreError, StoreResult};
use crate::model::{from_unix_ms, to_unix_ms, PutOutcome, SealedSecretRow, SecretMeta};
use crate::traits::SecretStore;

const SEALED_COLUMNS: &str = "user_id, name, version, key_version, wrapped_key, nonce, \
                              ciphertext, created_at, updated_at";

fn sealed_from_row(row: &DbRow) -> StoreResult<SealedSecretRow> {
    let key_version: i64 = row.try_get("key_version")?;
    Ok(SealedSecretRow {
        user_id: uuid_col(row, "user_id")?,
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        key_version: u32::try_from(key_version)
            .map_err(|e| StoreError::corrupt("secret key_version", e))?,
        wrapped_key: row.try_get("wrapped_key")?,
        nonce: row.try_get("nonce")?,
        ciphertext: row.try_get("ciphertext")?,
        created_at: from_unix_ms(row.try_get("created_at")?)?,
        updated_at: from_unix_ms(row.try_get("updated_at")?)?,
    })
}

/// Inserts `s` as version 1 unless its owner already holds `max_secrets`: then a conflict on
/// `secret_quota`. Run it inside a transaction holding the owner's lock.
async fn insert_within_quota(
    conn: &mut DbConn,
    s: &SealedSecretRow,
    max_secrets: u32,
) -> StoreResult<()> {
    let count: i64 = sqlx::query_scalar("select count(*) from secret where user_id = $1")
        .bind(id(s.user_id))
        .fetch_one(&mut *conn)
        .await?;
    if count >= i64::from(max_secrets) {
        return Err(StoreError::conflict(Constraint::SecretQuota));
    }
    sqlx::query(
        "insert into secret (user_id, name, version, key_version, wrapped_key, nonce, \
         ciphertext, created_at, updated_at) values ($1, $2, 1, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id(s.user_id))
    .bind(&s.name)
    .bind(i64::from(s.key_version))
    .bind(&s.wrapped_key)
    .bind(&s.nonce)
    .bind(&s.ciphertext)
    .bind(to_unix_ms(s.created_at))
    .bind(to_unix_ms(s.updated_at))
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl SecretStore for BackendStore {
    #[tracing::instrument(skip_all, fields(user.id = %s.user_id, secret.name = %s.name))]
    async fn put_secret(
        &self,
        s: &SealedSecretRow,
        expected_prev_version: Option<i64>,
        max_secrets: u32,
        audit: &AuditEvent,
    ) -> StoreResult<PutOutcome> {
        let updated = to_unix_ms(s.updated_at);
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, s.user_id).await?;
        let current: Option<i64> =
            sqlx::query_scalar("select version from secret where user_id = $1 and name = $2")
                .bind(id(s.user_id))
                .bind(&s.name)
                .fetch_optional(&mut *tx)
                .await?;
        let outcome = match (current, expected_prev_version) {
            (None, None) => {
                insert_within_quota(&mut tx, s, max_secrets).await?;
                PutOutcome::Created
            }
            (Some(current), Some(expected)) if current == expected => {
                sqlx::query(
                    "update secret set version = $1, key_version = $2, wrapped_key = $3, \
                     nonce = $4, ciphertext = $5, updated_at = $6 where user_id = $7 and name = $8",
                )
                .bind(expected + 1)
                .bind(i64::from(s.key_version))
                .bind(&s.wrapped_key)
                .bind(&s.nonce)
                .bind(&s.ciphertext)
                .bind(updated)
                .bind(id(s.user_id))
                .bind(&s.name)
                .execute(&mut *tx)
                .await?;
                PutOutcome::Replaced
            }
            _ => return Err(StoreError::conflict(Constraint::SecretVersion)),
        };
        audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn get_secret(&self, user_id: Uuid, name: &str) -> StoreResult<Option<SealedSecretRow>> {
        let sql = format!("select {SEALED_COLUMNS} from secret where user_id = $1 and name = $2");
        let row = sqlx::query(&sql)
            .bind(id(user_id))
            .bind(name)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        row.as_ref().map(sealed_from_row).transpose()
    }

    async fn list_secrets(&self, user_id: Uuid) -> StoreResult<Vec<SecretMeta>> {
        let rows = sqlx::query(
            "select name, version, created_at, updated_at from secret where user_id = $1 \
             order by name",
        )
        .bind(id(user_id))
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SecretMeta {
                    name: row.try_get("name")?,
                    version: row.try_get("version")?,
                    created_at: from_unix_ms(row.try_get("created_at")?)?,
                    updated_at: from_unix_ms(row.try_get("updated_at")?)?,
                })
            })
            .collect()
    }

    async fn sealed_secrets_for(&self, user_id: Uuid) -> StoreResult<Vec<SealedSecretRow>> {
        let sql = format!("select {SEALED_COLUMNS} from secret where user_id = $1 order by name");
        let rows = sqlx::query(&sql)
            .bind(id(user_id))
            .fetch_all(&mut *self.reader().await?)
            .await?;
        rows.iter().map(sealed_from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id, secret.name = %name))]
    async fn delete_secret(
        &self,
        user_id: Uuid,
        name: &str,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let delete = sqlx::query("delete from secret where user_id = $1 and name = $2")
            .bind(id(user_id))
            .bind(name);
        self.change_audited(user_id, delete, audit).await
    }

    async fn all_sealed_secrets(&self) -> StoreResult<Vec<SealedSecretRow>> {
        let sql = format!("select {SEALED_COLUMNS} from secret order by user_id, name");
        let rows = sqlx::query(&sql)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        rows.iter().map(sealed_from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id, secret.name = %name))]
    async fn update_wrapped_key(
        &self,
        user_id: Uuid,
        name: &str,
        version: i64,
        key_version: u32,
        wrapped_key: &[u8],
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "update secret set key_version = $1, wrapped_key = $2 \
             where user_id = $3 and name = $4 and version = $5",
        )
        .bind(i64::from(key_version))
        .bind(wrapped_key)
        .bind(id(user_id))
        .bind(name)
        .bind(version)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
