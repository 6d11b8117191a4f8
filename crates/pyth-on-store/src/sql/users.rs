//! `UserStore`, both backends.
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use async_trait::async_trait;
use sqlx::Row;
use uuid::Uuid;

use super::{audit, id, lock_user, uuid_col, BackendStore, DbConn, DbRow};
use crate::audit_chain::AuditEvent;
use crate::error::StoreResult;
use crate::model::{from_unix_ms, to_unix_ms, NewUser, Role, SecretsDefault, User};
use crate::traits::UserStore;

const USER_COLUMNS: &str =
    "user_id, email, password_hash, created_at, role, disabled_at, secrets_default";

/// Inserts `user` on `conn` (inside the caller's transaction).
pub(super) async fn insert_user(conn: &mut DbConn, user: &NewUser) -> StoreResult<()> {
    let created = to_unix_ms(user.created_at);
    sqlx::query(
        "insert into app_user (user_id, email, password_hash, created_at, updated_at, role) \
         values ($1, $2, $3, $4, $4, $5)",
    )
    .bind(id(user.id))
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(created)
    .bind(user.role.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) fn user_from_row(row: &DbRow) -> StoreResult<User> {
    let disabled_at: Option<i64> = row.try_get("disabled_at")?;
    Ok(User {
        id: uuid_col(row, "user_id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        created_at: from_unix_ms(row.try_get("created_at")?)?,
        role: Role::from_db(row.try_get("role")?)?,
        disabled_at: disabled_at.map(from_unix_ms).transpose()?,
        secrets_default: SecretsDefault::from_db(row.try_get("secrets_default")?)?,
    })
}

#[async_trait]
impl UserStore for BackendStore {
    #[tracing::instrument(skip_all, fields(user.id = %user.id))]
    async fn create_user(&self, user: &NewUser, audit: &AuditEvent) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, audit.user_id).await?;
        insert_user(&mut tx, user).await?;
        audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let sql = format!("select {USER_COLUMNS} from app_user where email = $1");
        let row = sqlx::query(&sql)
            .bind(email)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_id(&self, user_id: Uuid) -> StoreResult<Option<User>> {
        let sql = format!("select {USER_COLUMNS} from app_user where user_id = $1");
        let row = sqlx::query(&sql)
            .bind(id(user_id))
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }
}
