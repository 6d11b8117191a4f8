//! SQLite `RunRecordStore`: the open-run row and the run's audit entries change together under
//! `BEGIN IMMEDIATE`.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{audit, id, opt_uuid_col, uuid_col, SqliteStore};
use crate::audit_chain::AuditEvent;
use crate::error::StoreResult;
use crate::model::{from_unix_ms, to_unix_ms, OpenRun};
use crate::traits::RunRecordStore;

fn open_run_from_row(row: &SqliteRow) -> StoreResult<OpenRun> {
    Ok(OpenRun {
        execution_id: uuid_col(row, "execution_id")?,
        user_id: uuid_col(row, "user_id")?,
        node: row.try_get("node")?,
        action: row.try_get("action")?,
        resource: row.try_get("resource")?,
        ip: row.try_get("ip")?,
        auth_method: row.try_get("auth_method")?,
        api_key_id: opt_uuid_col(row, "api_key_id")?,
        started_at: from_unix_ms(row.try_get("started_at")?)?,
        deadline_at: from_unix_ms(row.try_get("deadline_at")?)?,
    })
}

#[async_trait]
impl RunRecordStore for SqliteStore {
    #[tracing::instrument(skip_all, fields(user.id = %run.user_id))]
    async fn begin_run(&self, run: &OpenRun, started: &AuditEvent) -> StoreResult<()> {
        let at = to_unix_ms(run.started_at);
        let mut tx = self.begin_immediate().await?;
        sqlx::query(
            "insert into run_record (execution_id, user_id, node, action, resource, ip, \
             auth_method, api_key_id, started_at, deadline_at, created_at, updated_at) \
             values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id(run.execution_id))
        .bind(id(run.user_id))
        .bind(&run.node)
        .bind(&run.action)
        .bind(&run.resource)
        .bind(&run.ip)
        .bind(&run.auth_method)
        .bind(run.api_key_id.map(id))
        .bind(at)
        .bind(to_unix_ms(run.deadline_at))
        .bind(at)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, started).await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(user.id = %outcome.user_id))]
    async fn end_run(&self, execution_id: Uuid, outcome: &AuditEvent) -> StoreResult<()> {
        let mut tx = self.begin_immediate().await?;
        sqlx::query("delete from run_record where execution_id = ?")
            .bind(id(execution_id))
            .execute(&mut *tx)
            .await?;
        audit::append(&mut tx, outcome).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn stale_runs(
        &self,
        node: Option<&str>,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<OpenRun>> {
        let rows = sqlx::query(
            "select * from run_record where node = ? or deadline_at < ? \
             order by started_at, execution_id limit ?",
        )
        .bind(node)
        .bind(to_unix_ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(open_run_from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(user.id = %outcome.user_id))]
    async fn interrupt_run(&self, execution_id: Uuid, outcome: &AuditEvent) -> StoreResult<bool> {
        let mut tx = self.begin_immediate().await?;
        let done = sqlx::query("delete from run_record where execution_id = ?")
            .bind(id(execution_id))
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        audit::append(&mut tx, outcome).await?;
        tx.commit().await?;
        Ok(true)
    }
}
