//! `AccountStore`, both backends. Changes that could remove the last enabled admin take a
//! server-wide lock first (SQLite: the write lock of `BEGIN IMMEDIATE`; PostgreSQL: the
//! advisory lock of the nil id, which no user has), so two admins demoting each other at once
//! on two nodes cannot both succeed.
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    audit, id, lock_user, refresh::revoke_family, uuid_col, BackendStore, DbConn, DbRow, WriteTx,
};
use crate::audit_chain::AuditEvent;
use crate::error::{Constraint, StoreError, StoreResult};
use crate::model::{from_unix_ms, to_unix_ms, Role, SecretsDefault, SignIn, UserSummary};
use crate::traits::AccountStore;

/// Locks the server-wide admin lock, then every user an event of `audit` belongs to, in id
/// order (two transactions locking the same users never wait for each other in a cycle).
async fn lock_for(conn: &mut DbConn, audit: &[AuditEvent], admins: bool) -> StoreResult<()> {
    if admins {
        lock_user(conn, Uuid::nil()).await?;
    }
    let mut users: Vec<Uuid> = audit.iter().map(|e| e.user_id).collect();
    users.sort_unstable();
    users.dedup();
    for user in users {
        lock_user(conn, user).await?;
    }
    Ok(())
}

async fn append_all(conn: &mut DbConn, audit: &[AuditEvent]) -> StoreResult<()> {
    for event in audit {
        audit::append(conn, event).await?;
    }
    Ok(())
}

/// Appends `audit` and commits when `changed`; answers `changed` (nothing is written
/// otherwise: the transaction is dropped, rolled back).
pub(super) async fn commit_if(
    mut tx: WriteTx,
    changed: bool,
    audit: &[AuditEvent],
) -> StoreResult<bool> {
    if changed {
        append_all(&mut tx, audit).await?;
        tx.commit().await?;
    }
    Ok(changed)
}

/// `Conflict` on [`Constraint::LastAdmin`] when `user_id` is the only enabled admin.
async fn guard_last_admin(conn: &mut DbConn, user_id: Uuid) -> StoreResult<()> {
    let row = sqlx::query(
        "select (select count(*) from app_user where user_id = $1 and role = 'admin' \
         and disabled_at is null) as target, \
         (select count(*) from app_user where user_id <> $1 and role = 'admin' \
         and disabled_at is null) as others",
    )
    .bind(id(user_id))
    .fetch_one(&mut *conn)
    .await?;
    let (target, others): (i64, i64) = (row.try_get("target")?, row.try_get("others")?);
    if target > 0 && others == 0 {
        return Err(StoreError::conflict(Constraint::LastAdmin));
    }
    Ok(())
}

fn summary_from_row(row: &DbRow) -> StoreResult<UserSummary> {
    let disabled_at: Option<i64> = row.try_get("disabled_at")?;
    Ok(UserSummary {
        id: uuid_col(row, "user_id")?,
        email: row.try_get("email")?,
        role: Role::from_db(row.try_get("role")?)?,
        created_at: from_unix_ms(row.try_get("created_at")?)?,
        disabled_at: disabled_at.map(from_unix_ms).transpose()?,
    })
}

fn sign_in_from_row(row: &DbRow) -> StoreResult<SignIn> {
    Ok(SignIn {
        id: uuid_col(row, "family_id")?,
        created_at: from_unix_ms(row.try_get("started_at")?)?,
        last_used_at: from_unix_ms(row.try_get("created_at")?)?,
        expires_at: from_unix_ms(row.try_get("expires_at")?)?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
    })
}

/// Removes every row of `user_id`: the cascading ones go with `app_user`; the audit chain and
/// rate-limit buckets have no foreign key. Invitations they used stay the admin's, without
/// the user's id; those they created go.
async fn delete_rows_of(conn: &mut DbConn, user_id: Uuid) -> StoreResult<bool> {
    sqlx::query("delete from audit_entry where user_id = $1")
        .bind(id(user_id))
        .execute(&mut *conn)
        .await?;
    // Every bucket named after the user (`user:ID`, `generate:ID`, `zkpw:ID:NAME`, ...): a
    // hyphenated UUID holds no LIKE wildcard.
    sqlx::query("delete from rate_limit where rate_limit_key like $1")
        .bind(format!("%{user_id}%"))
        .execute(&mut *conn)
        .await?;
    sqlx::query("update invitation set used_by = null where used_by = $1")
        .bind(id(user_id))
        .execute(&mut *conn)
        .await?;
    sqlx::query("delete from invitation where created_by = $1")
        .bind(id(user_id))
        .execute(&mut *conn)
        .await?;
    let deleted = sqlx::query("delete from app_user where user_id = $1")
        .bind(id(user_id))
        .execute(&mut *conn)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

#[async_trait]
impl AccountStore for BackendStore {
    async fn list_users(&self, after: Option<Uuid>, limit: u32) -> StoreResult<Vec<UserSummary>> {
        let columns = "user_id, email, role, created_at, disabled_at";
        let rows = match after {
            Some(after) => {
                let sql = format!(
                    "select {columns} from app_user where user_id > $1 order by user_id limit $2"
                );
                sqlx::query(&sql)
                    .bind(id(after))
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.reader().await?)
                    .await?
            }
            None => {
                let sql = format!("select {columns} from app_user order by user_id limit $1");
                sqlx::query(&sql)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.reader().await?)
                    .await?
            }
        };
        rows.iter().map(summary_from_row).collect()
    }

    async fn count_admins(&self) -> StoreResult<u64> {
        let count: i64 = sqlx::query_scalar(
            "select count(*) from app_user where role = 'admin' and disabled_at is null",
        )
        .fetch_one(&mut *self.reader().await?)
        .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id))]
    async fn set_user_disabled(
        &self,
        user_id: Uuid,
        at: Option<OffsetDateTime>,
        audit: &[AuditEvent],
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        lock_for(&mut tx, audit, true).await?;
        if at.is_some() {
            guard_last_admin(&mut tx, user_id).await?;
        }
        let now = to_unix_ms(at.unwrap_or_else(OffsetDateTime::now_utc));
        let done =
            sqlx::query("update app_user set disabled_at = $1, updated_at = $2 where user_id = $3")
                .bind(at.map(to_unix_ms))
                .bind(now)
                .bind(id(user_id))
                .execute(&mut *tx)
                .await?;
        commit_if(tx, done.rows_affected() > 0, audit).await
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id))]
    async fn set_user_role(
        &self,
        user_id: Uuid,
        role: Role,
        now: OffsetDateTime,
        audit: &[AuditEvent],
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        lock_for(&mut tx, audit, true).await?;
        if role != Role::Admin {
            guard_last_admin(&mut tx, user_id).await?;
        }
        let done = sqlx::query("update app_user set role = $1, updated_at = $2 where user_id = $3")
            .bind(role.as_str())
            .bind(to_unix_ms(now))
            .bind(id(user_id))
            .execute(&mut *tx)
            .await?;
        commit_if(tx, done.rows_affected() > 0, audit).await
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id))]
    async fn set_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        keep_family: Option<Uuid>,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let now = to_unix_ms(now);
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, user_id).await?;
        let done = sqlx::query(
            "update app_user set password_hash = $1, updated_at = $2 where user_id = $3",
        )
        .bind(password_hash)
        .bind(now)
        .bind(id(user_id))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let families: Vec<DbRow> = sqlx::query(
            "select distinct family_id from refresh_token where user_id = $1 \
             and revoked_at is null",
        )
        .bind(id(user_id))
        .fetch_all(&mut *tx)
        .await?;
        for row in &families {
            let family = uuid_col(row, "family_id")?;
            if Some(family) != keep_family {
                revoke_family(&mut tx, family, now).await?;
            }
        }
        audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id))]
    async fn set_secrets_default(
        &self,
        user_id: Uuid,
        value: SecretsDefault,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, user_id).await?;
        let done = sqlx::query(
            "update app_user set secrets_default = $1, updated_at = $2 where user_id = $3",
        )
        .bind(value.as_str())
        .bind(to_unix_ms(now))
        .bind(id(user_id))
        .execute(&mut *tx)
        .await?;
        commit_if(tx, done.rows_affected() > 0, std::slice::from_ref(audit)).await
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id))]
    async fn delete_user(&self, user_id: Uuid, audit: &[AuditEvent]) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        lock_for(&mut tx, audit, true).await?;
        lock_user(&mut tx, user_id).await?;
        guard_last_admin(&mut tx, user_id).await?;
        if !delete_rows_of(&mut tx, user_id).await? {
            return Ok(false);
        }
        append_all(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn sign_ins(&self, user_id: Uuid, now: OffsetDateTime) -> StoreResult<Vec<SignIn>> {
        // A live family has exactly one token neither spent nor revoked: its newest.
        let rows = sqlx::query(
            "select t.family_id, t.created_at, t.expires_at, t.ip, t.user_agent, \
             (select min(f.created_at) from refresh_token f where f.family_id = t.family_id) \
             as started_at \
             from refresh_token t where t.user_id = $1 and t.spent_at is null \
             and t.revoked_at is null and t.expires_at > $2 order by t.created_at desc",
        )
        .bind(id(user_id))
        .bind(to_unix_ms(now))
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter().map(sign_in_from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id))]
    async fn revoke_sign_in(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let now = to_unix_ms(now);
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, user_id).await?;
        let done = sqlx::query(
            "update refresh_token set revoked_at = $1, updated_at = $1 \
             where family_id = $2 and user_id = $3 and revoked_at is null",
        )
        .bind(now)
        .bind(id(family_id))
        .bind(id(user_id))
        .execute(&mut *tx)
        .await?;
        commit_if(tx, done.rows_affected() > 0, std::slice::from_ref(audit)).await
    }

    async fn sign_in_live(&self, user_id: Uuid, family_id: Uuid) -> StoreResult<bool> {
        let live: Option<i64> = sqlx::query_scalar(
            "select cast(1 as bigint) from refresh_token where family_id = $1 and user_id = $2 \
             and revoked_at is null limit 1",
        )
        .bind(id(family_id))
        .bind(id(user_id))
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(live.is_some())
    }
}
