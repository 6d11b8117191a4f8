//! `EgressStore`, both backends: one row per user, changed with its audit entry under the
//! user's lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: the user's advisory lock).
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{audit, id, lock_user, BackendStore};
use crate::audit_chain::AuditEvent;
use crate::error::StoreResult;
use crate::model::to_unix_ms;
use crate::traits::EgressStore;

#[async_trait]
impl EgressStore for BackendStore {
    async fn get_egress_allow(&self, user_id: Uuid) -> StoreResult<Option<Vec<String>>> {
        let row = sqlx::query("select hosts from egress_allow where user_id = $1")
            .bind(id(user_id))
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        row.map(|r| {
            let hosts: String = r.try_get("hosts")?;
            Ok(hosts.lines().map(str::to_owned).collect())
        })
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id))]
    async fn set_egress_allow(
        &self,
        user_id: Uuid,
        hosts: &[String],
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let at = to_unix_ms(now);
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, user_id).await?;
        sqlx::query(
            "insert into egress_allow (user_id, hosts, created_at, updated_at) \
             values ($1, $2, $3, $4) \
             on conflict (user_id) do update set hosts = excluded.hosts, \
             updated_at = excluded.updated_at",
        )
        .bind(id(user_id))
        .bind(hosts.join("\n"))
        .bind(at)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id))]
    async fn delete_egress_allow(&self, user_id: Uuid, audit: &AuditEvent) -> StoreResult<bool> {
        let delete = sqlx::query("delete from egress_allow where user_id = $1").bind(id(user_id));
        self.change_audited(user_id, delete, audit).await
    }
}
