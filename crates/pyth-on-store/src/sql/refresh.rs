//! `RefreshTokenStore`, both backends: rotation reads the presented token under a lock
//! (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: its row, `for update`), so two nodes presenting the
//! same token serialise and the second one sees it spent (reuse).
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{audit, id, lock_user, uuid_col, BackendStore, DbConn, FOR_UPDATE};
use crate::audit_chain::AuditEvent;
use crate::error::StoreResult;
use crate::model::{refresh_state, to_unix_ms, NewRefreshToken, RefreshOutcome, RefreshState};
use crate::traits::RefreshTokenStore;

async fn insert_token(
    conn: &mut DbConn,
    t: &NewRefreshToken,
    user_id: Uuid,
    family_id: Uuid,
) -> StoreResult<()> {
    sqlx::query(
        "insert into refresh_token (refresh_token_id, user_id, family_id, token_hash, \
         created_at, updated_at, expires_at, ip, user_agent) \
         values ($1, $2, $3, $4, $5, $5, $6, $7, $8)",
    )
    .bind(id(t.id))
    .bind(id(user_id))
    .bind(id(family_id))
    .bind(&t.token_hash)
    .bind(to_unix_ms(t.created_at))
    .bind(to_unix_ms(t.expires_at))
    .bind(&t.ip)
    .bind(&t.user_agent)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn revoke_family(conn: &mut DbConn, family_id: Uuid, at: i64) -> StoreResult<()> {
    sqlx::query(
        "update refresh_token set revoked_at = $1, updated_at = $1 \
         where family_id = $2 and revoked_at is null",
    )
    .bind(at)
    .bind(id(family_id))
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks token `token_id` spent at `at`.
async fn spend(conn: &mut DbConn, token_id: Uuid, at: i64) -> StoreResult<()> {
    sqlx::query(
        "update refresh_token set spent_at = $1, updated_at = $1 where refresh_token_id = $2",
    )
    .bind(at)
    .bind(id(token_id))
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl RefreshTokenStore for BackendStore {
    #[tracing::instrument(skip_all, fields(user.id = %t.user_id))]
    async fn create_refresh_token(&self, t: &NewRefreshToken) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        insert_token(&mut conn, t, t.user_id, t.family_id).await
    }

    #[tracing::instrument(skip_all)]
    async fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        successor: &NewRefreshToken,
        now: OffsetDateTime,
        audit_ok: &AuditEvent,
        audit_reuse: &AuditEvent,
    ) -> StoreResult<RefreshOutcome> {
        let now = to_unix_ms(now);
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "select refresh_token_id, user_id, family_id, expires_at, spent_at, revoked_at \
             from refresh_token where token_hash = $1{FOR_UPDATE}"
        );
        let row = sqlx::query(&sql)
            .bind(presented_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(RefreshOutcome::Invalid);
        };
        let state = refresh_state(
            row.try_get("expires_at")?,
            row.try_get("spent_at")?,
            row.try_get("revoked_at")?,
            now,
        );
        let token_id = uuid_col(&row, "refresh_token_id")?;
        let user_id = uuid_col(&row, "user_id")?;
        let family_id = uuid_col(&row, "family_id")?;
        let outcome = match state {
            RefreshState::Invalid => return Ok(RefreshOutcome::Invalid),
            RefreshState::Reused => {
                lock_user(&mut tx, user_id).await?;
                revoke_family(&mut tx, family_id, now).await?;
                let event = AuditEvent {
                    user_id,
                    ..audit_reuse.clone()
                };
                audit::append(&mut tx, &event).await?;
                RefreshOutcome::Reused { user_id, family_id }
            }
            RefreshState::Live => {
                lock_user(&mut tx, user_id).await?;
                spend(&mut tx, token_id, now).await?;
                insert_token(&mut tx, successor, user_id, family_id).await?;
                let event = AuditEvent {
                    user_id,
                    ..audit_ok.clone()
                };
                audit::append(&mut tx, &event).await?;
                RefreshOutcome::Rotated { user_id, family_id }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    #[tracing::instrument(skip_all, fields(refresh.family_id = %family_id))]
    async fn revoke_refresh_family(&self, family_id: Uuid) -> StoreResult<()> {
        let now = to_unix_ms(OffsetDateTime::now_utc());
        let mut conn = self.writer().await?;
        revoke_family(&mut conn, family_id, now).await
    }

    #[tracing::instrument(skip_all)]
    async fn sign_out(
        &self,
        presented_hash: &[u8],
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<Option<Uuid>> {
        let now = to_unix_ms(now);
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "select user_id, family_id, expires_at, spent_at, revoked_at \
             from refresh_token where token_hash = $1{FOR_UPDATE}"
        );
        let row = sqlx::query(&sql)
            .bind(presented_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let state = refresh_state(
            row.try_get("expires_at")?,
            row.try_get("spent_at")?,
            row.try_get("revoked_at")?,
            now,
        );
        if state != RefreshState::Live {
            return Ok(None);
        }
        let user_id = uuid_col(&row, "user_id")?;
        lock_user(&mut tx, user_id).await?;
        revoke_family(&mut tx, uuid_col(&row, "family_id")?, now).await?;
        let event = AuditEvent {
            user_id,
            ..audit.clone()
        };
        audit::append(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(Some(user_id))
    }
}
