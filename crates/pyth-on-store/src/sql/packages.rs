//! `PackageStore`, both backends. List changes and the per-(user, language) quota run under
//! the user's lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: the user's advisory lock); a build
//! claim is one `insert ... on conflict do update ... where`, atomic on its own (on
//! PostgreSQL even when several nodes race on one key).
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use crate::error::Constraint;
use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{audit, id, lock_user, uuid_col, BackendStore, DbRow, BYTEWISE};
use crate::audit_chain::AuditEvent;
use crate::error::{StoreError, StoreResult};
use crate::model::{from_unix_ms, to_unix_ms, PackageEnvRow, PackageRow, PutOutcome};
use crate::traits::PackageStore;

const ENV_COLUMNS: &str =
    "env_key, language, status, error, size_bytes, created_at, updated_at, last_used_at";

fn package_from_row(row: &DbRow) -> StoreResult<PackageRow> {
    Ok(PackageRow {
        user_id: uuid_col(row, "user_id")?,
        language: row.try_get("language")?,
        name: row.try_get("name")?,
        spec: row.try_get("spec")?,
        added_at: from_unix_ms(row.try_get("added_at")?)?,
    })
}

fn env_from_row(row: &DbRow) -> StoreResult<PackageEnvRow> {
    Ok(PackageEnvRow {
        env_key: row.try_get("env_key")?,
        language: row.try_get("language")?,
        status: row.try_get("status")?,
        error: row.try_get("error")?,
        size_bytes: row.try_get("size_bytes")?,
        created_at: from_unix_ms(row.try_get("created_at")?)?,
        updated_at: from_unix_ms(row.try_get("updated_at")?)?,
        last_used_at: from_unix_ms(row.try_get("last_used_at")?)?,
    })
}

#[async_trait]
impl PackageStore for BackendStore {
    async fn list_packages(&self, user_id: Uuid) -> StoreResult<Vec<PackageRow>> {
        // Byte-wise, whatever the database locale.
        let sql = format!(
            "select user_id, language, name, spec, added_at from package where user_id = $1 \
             order by language{BYTEWISE}, name{BYTEWISE}"
        );
        let rows = sqlx::query(&sql)
            .bind(id(user_id))
            .fetch_all(&mut *self.reader().await?)
            .await?;
        rows.iter().map(package_from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id, package.language = %language))]
    async fn set_packages(
        &self,
        user_id: Uuid,
        language: &str,
        rows: &[PackageRow],
        max_items: u32,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        // The list is replaced whole, so its length is the count afterwards.
        if rows.len() > usize::try_from(max_items).unwrap_or(usize::MAX) {
            return Err(StoreError::conflict(Constraint::PackageQuota));
        }
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, user_id).await?;
        sqlx::query("delete from package where user_id = $1 and language = $2")
            .bind(id(user_id))
            .bind(language)
            .execute(&mut *tx)
            .await?;
        for row in rows {
            sqlx::query(
                "insert into package (user_id, language, name, spec, added_at, created_at, \
                 updated_at) values ($1, $2, $3, $4, $5, $5, $5)",
            )
            .bind(id(user_id))
            .bind(language)
            .bind(&row.name)
            .bind(&row.spec)
            .bind(to_unix_ms(row.added_at))
            .execute(&mut *tx)
            .await?;
        }
        audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(user.id = %row.user_id, package.name = %row.name))]
    async fn add_package(
        &self,
        row: &PackageRow,
        max_items: u32,
        audit: &AuditEvent,
    ) -> StoreResult<PutOutcome> {
        let added = to_unix_ms(row.added_at);
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, row.user_id).await?;
        let replaced = sqlx::query(
            "update package set spec = $1, added_at = $2, updated_at = $2 \
             where user_id = $3 and language = $4 and name = $5",
        )
        .bind(&row.spec)
        .bind(added)
        .bind(id(row.user_id))
        .bind(&row.language)
        .bind(&row.name)
        .execute(&mut *tx)
        .await?;
        let outcome = if replaced.rows_affected() == 1 {
            PutOutcome::Replaced
        } else {
            let count: i64 = sqlx::query_scalar(
                "select count(*) from package where user_id = $1 and language = $2",
            )
            .bind(id(row.user_id))
            .bind(&row.language)
            .fetch_one(&mut *tx)
            .await?;
            if count >= i64::from(max_items) {
                return Err(StoreError::conflict(Constraint::PackageQuota));
            }
            sqlx::query(
                "insert into package (user_id, language, name, spec, added_at, created_at, \
                 updated_at) values ($1, $2, $3, $4, $5, $5, $5)",
            )
            .bind(id(row.user_id))
            .bind(&row.language)
            .bind(&row.name)
            .bind(&row.spec)
            .bind(added)
            .execute(&mut *tx)
            .await?;
            PutOutcome::Created
        };
        audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id, package.name = %name))]
    async fn remove_package(
        &self,
        user_id: Uuid,
        language: &str,
        name: &str,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let delete =
            sqlx::query("delete from package where user_id = $1 and language = $2 and name = $3")
                .bind(id(user_id))
                .bind(language)
                .bind(name);
        self.change_audited(user_id, delete, audit).await
    }

    async fn get_package_env(&self, env_key: &str) -> StoreResult<Option<PackageEnvRow>> {
        let sql = format!("select {ENV_COLUMNS} from package_env where env_key = $1");
        let row = sqlx::query(&sql)
            .bind(env_key)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        row.as_ref().map(env_from_row).transpose()
    }

    #[tracing::instrument(skip_all, fields(package_env.key = %env_key))]
    async fn claim_package_env_build(
        &self,
        env_key: &str,
        language: &str,
        now: OffsetDateTime,
        stale_after_ms: i64,
    ) -> StoreResult<bool> {
        let now = to_unix_ms(now);
        // One statement: inserted (absent) or taken over (stale build) changes one row. On
        // PostgreSQL a racing insert waits for the winner's commit, then re-checks the `where`
        // against the committed row: a fresh claim is not stale, so exactly one caller does.
        let done = sqlx::query(
            "insert into package_env (env_key, language, status, error, size_bytes, \
             created_at, updated_at, last_used_at) values ($1, $2, 'building', null, 0, $3, $3, $3) \
             on conflict (env_key) do update set updated_at = $3, error = null \
             where package_env.status = 'building' and package_env.updated_at < $4",
        )
        .bind(env_key)
        .bind(language)
        .bind(now)
        .bind(now.saturating_sub(stale_after_ms))
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    #[tracing::instrument(skip_all, fields(package_env.key = %env_key))]
    async fn finish_package_env(
        &self,
        env_key: &str,
        status: &str,
        error: Option<&str>,
        size_bytes: i64,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "update package_env set status = $1, error = $2, size_bytes = $3, updated_at = $4, \
             last_used_at = $4 where env_key = $5",
        )
        .bind(status)
        .bind(error)
        .bind(size_bytes)
        .bind(to_unix_ms(now))
        .bind(env_key)
        .execute(&mut *self.writer().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn touch_package_env(&self, env_key: &str, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("update package_env set last_used_at = $1 where env_key = $2")
            .bind(to_unix_ms(now))
            .bind(env_key)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    async fn list_package_envs(&self) -> StoreResult<Vec<PackageEnvRow>> {
        let sql = format!(
            "select {ENV_COLUMNS} from package_env order by last_used_at, env_key{BYTEWISE}"
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        rows.iter().map(env_from_row).collect()
    }

    async fn delete_package_env(&self, env_key: &str) -> StoreResult<bool> {
        let done = sqlx::query("delete from package_env where env_key = $1")
            .bind(env_key)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
