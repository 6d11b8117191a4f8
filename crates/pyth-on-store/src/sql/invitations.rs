//! `InvitationStore`, both backends. Spending an invitation is one conditional update
//! (unused and unexpired), so two people presenting one code at once on two nodes cannot both
//! register: the second update changes no row.
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::accounts::commit_if;
use super::api_keys::insert_key;
use super::{
    audit, id, lock_user, opt_uuid_col, users::insert_user, uuid_col, BackendStore, DbRow,
};
use crate::audit_chain::AuditEvent;
use crate::error::{Constraint, StoreError, StoreResult};
use crate::model::{from_unix_ms, to_unix_ms, Invitation, NewApiKey, NewInvitation, NewUser};
use crate::traits::InvitationStore;

fn invitation_from_row(row: &DbRow) -> StoreResult<Invitation> {
    let used_at: Option<i64> = row.try_get("used_at")?;
    Ok(Invitation {
        id: uuid_col(row, "invitation_id")?,
        created_by: uuid_col(row, "created_by")?,
        note: row.try_get("note")?,
        created_at: from_unix_ms(row.try_get("created_at")?)?,
        expires_at: from_unix_ms(row.try_get("expires_at")?)?,
        used_at: used_at.map(from_unix_ms).transpose()?,
        used_by: opt_uuid_col(row, "used_by")?,
    })
}

#[async_trait]
impl InvitationStore for BackendStore {
    #[tracing::instrument(skip_all, fields(invitation.id = %inv.id))]
    async fn create_invitation(&self, inv: &NewInvitation, audit: &AuditEvent) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, audit.user_id).await?;
        sqlx::query(
            "insert into invitation (invitation_id, code_hash, created_by, note, created_at, \
             updated_at, expires_at) values ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(id(inv.id))
        .bind(&inv.code_hash)
        .bind(id(inv.created_by))
        .bind(&inv.note)
        .bind(to_unix_ms(inv.created_at))
        .bind(to_unix_ms(inv.expires_at))
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_invitations(&self) -> StoreResult<Vec<Invitation>> {
        let rows = sqlx::query(
            "select invitation_id, created_by, note, created_at, expires_at, used_at, used_by \
             from invitation order by created_at desc, invitation_id desc",
        )
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter().map(invitation_from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(invitation.id = %inv_id))]
    async fn delete_invitation(&self, inv_id: Uuid, audit: &AuditEvent) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, audit.user_id).await?;
        let done = sqlx::query("delete from invitation where invitation_id = $1")
            .bind(id(inv_id))
            .execute(&mut *tx)
            .await?;
        commit_if(tx, done.rows_affected() > 0, std::slice::from_ref(audit)).await
    }

    #[tracing::instrument(skip_all, fields(user.id = %user.id))]
    async fn register_with_invitation(
        &self,
        code_hash: &[u8],
        user: &NewUser,
        key: &NewApiKey,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let now = to_unix_ms(now);
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, audit.user_id).await?;
        let spent = sqlx::query(
            "update invitation set used_at = $1, used_by = $2, updated_at = $1 \
             where code_hash = $3 and used_at is null and expires_at > $1",
        )
        .bind(now)
        .bind(id(user.id))
        .bind(code_hash)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() == 0 {
            return Err(StoreError::conflict(Constraint::InvitationUnusable));
        }
        insert_user(&mut tx, user).await?;
        insert_key(&mut tx, key).await?;
        audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
