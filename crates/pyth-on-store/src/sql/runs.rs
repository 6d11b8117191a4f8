//! `RunRecordStore`, both backends: the open-run row and the run's audit entries change
//! together, under the user's lock (the one the audit chain takes: SQLite's `BEGIN
//! IMMEDIATE`, PostgreSQL's advisory lock).
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    audit, id, lock_user, opt_uuid_col, quotas, uuid_col, BackendStore, DbRow, BEGIN_IN_STATEMENT,
};
use crate::audit_chain::AuditEvent;
use crate::error::StoreResult;
use crate::model::{from_unix_ms, to_unix_ms, CpuCharge, OpenRun};
use crate::traits::RunRecordStore;

fn open_run_from_row(row: &DbRow) -> StoreResult<OpenRun> {
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

/// Whether user `user` (a parameter) exists, and the head of their audit chain: three columns.
fn owner_and_head(user: &str) -> String {
    format!(
        "(select cast(1 as bigint) from app_user where user_id = {user}), {}",
        audit::head_columns(user)
    )
}

#[async_trait]
impl RunRecordStore for BackendStore {
    #[tracing::instrument(skip_all, fields(user.id = %run.user_id))]
    async fn begin_run(&self, run: &OpenRun, started: &AuditEvent) -> StoreResult<()> {
        if self.begin_run_after_remembered(run, started).await? {
            return Ok(());
        }
        let at = to_unix_ms(run.started_at);
        // Otherwise (no head remembered, or a stale one: `sql/remembered_head.rs`) the
        // transaction begins with the insert where the backend can; the head of the owner's
        // chain comes back with it; the entry's insert commits: two round trips.
        let mut tx = self.begin_write_in_statement().await?;
        lock_user(&mut tx, run.user_id).await?;
        static INSERT: LazyLock<String> = LazyLock::new(|| {
            format!(
                "{BEGIN_IN_STATEMENT}insert into run_record (execution_id, user_id, node, action, resource, ip, \
                 auth_method, api_key_id, started_at, deadline_at, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9, $9) returning {}",
                audit::head_columns("$2")
            )
        });
        let head: Vec<(Option<i64>, Option<Vec<u8>>)> = sqlx::query_as(INSERT.as_str())
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
            .fetch_all(&mut *tx)
            .await?;
        let (seq, hash) = head.into_iter().next().ok_or(sqlx::Error::RowNotFound)?;
        let entry = audit::append_after_and_commit(tx, started, seq.zip(hash)).await?;
        self.remember_head(&entry)
    }

    #[tracing::instrument(skip_all, fields(user.id = %outcome.user_id))]
    async fn end_run(
        &self,
        execution_id: Uuid,
        outcome: &AuditEvent,
        cpu: Option<CpuCharge>,
    ) -> StoreResult<()> {
        if self
            .end_run_after_remembered(execution_id, outcome, cpu)
            .await?
        {
            return Ok(());
        }
        let mut tx = self.begin_write_in_statement().await?;
        lock_user(&mut tx, outcome.user_id).await?;
        // A run that ends after its account was deleted leaves nothing of the account behind.
        // Whether the owner exists and the head of their chain come back with the delete
        // (one statement, which begins the transaction where the backend can); read alone if
        // the run was already off the record.
        static DELETE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "{BEGIN_IN_STATEMENT}delete from run_record where execution_id = $1 returning {}",
                owner_and_head("$2")
            )
        });
        static OWNER_AND_HEAD: LazyLock<String> =
            LazyLock::new(|| format!("select {}", owner_and_head("$1")));
        type OwnerAndHead = (Option<i64>, Option<i64>, Option<Vec<u8>>);
        let deleted: Vec<OwnerAndHead> = sqlx::query_as(DELETE.as_str())
            .bind(id(execution_id))
            .bind(id(outcome.user_id))
            .fetch_all(&mut *tx)
            .await?;
        let (owner, seq, hash) = match deleted.into_iter().next() {
            Some(row) => row,
            None => {
                sqlx::query_as(OWNER_AND_HEAD.as_str())
                    .bind(id(outcome.user_id))
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        if owner.is_none() {
            tx.commit().await?;
            self.forget_head(outcome.user_id);
            return Ok(());
        }
        let entry = match cpu {
            Some(charge) => {
                // The charge rides on the entry's statement: one round trip fewer.
                static CHARGE_AND_INSERT: LazyLock<String> = LazyLock::new(|| {
                    audit::insert_after_sql(&quotas::charge_sql(["$2", "$14", "$15", "$4"]))
                });
                let extra = [charge.day, charge.cpu_ms.max(0)];
                let sql = CHARGE_AND_INSERT.as_str();
                audit::append_with_and_commit(tx, sql, outcome, seq.zip(hash), &extra).await?
            }
            None => audit::append_after_and_commit(tx, outcome, seq.zip(hash)).await?,
        };
        self.remember_head(&entry)
    }

    async fn stale_runs(
        &self,
        node: Option<&str>,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<OpenRun>> {
        let rows = sqlx::query(
            "select * from run_record where node = cast($1 as text) or deadline_at < $2 \
             order by started_at, execution_id limit $3",
        )
        .bind(node)
        .bind(to_unix_ms(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter().map(open_run_from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(user.id = %outcome.user_id))]
    async fn interrupt_run(&self, execution_id: Uuid, outcome: &AuditEvent) -> StoreResult<bool> {
        let delete =
            sqlx::query("delete from run_record where execution_id = $1").bind(id(execution_id));
        self.change_audited(outcome.user_id, delete, outcome).await
    }
}
