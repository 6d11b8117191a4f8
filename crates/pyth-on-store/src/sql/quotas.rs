//! `QuotaStore`, both backends. A run is counted by one conditional upsert (`insert ... on
//! conflict do update ... where` the day's usage is under both bounds): PostgreSQL locks the
//! day's row for it and SQLite holds its write lock, so concurrent runs on any node never pass
//! a quota together. The session count and its insert, and the overrides with their audit
//! entry, are serialised per user (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: the user's advisory
//! lock).
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{audit, id, lock_user, zk_code, BackendStore};
use crate::audit_chain::AuditEvent;
use crate::error::{Constraint, StoreError, StoreResult};
use crate::model::{
    to_unix_ms, CpuCharge, DayUsage, PutOutcome, QuotaOverrideRow, RunReservation, SessionRecord,
    ZkCodeRow,
};
use crate::traits::QuotaStore;

/// The runs a day of user `$1` may hold: their override (`user_quota`), 0 meaning unbounded,
/// else `$3`, the server's default (already bounded).
const LIMIT_RUNS: &str = "coalesce((select case when runs_per_day > 0 then runs_per_day \
     else 9223372036854775807 end from user_quota where user_id = $1 \
     and runs_per_day is not null), $3)";

/// The CPU milliseconds a day of user `$1` may hold: their override in seconds, 0 meaning
/// unbounded (as one past what milliseconds can count), else `$4`.
const LIMIT_CPU_MS: &str = "coalesce((select case when cpu_seconds_per_day > 0 \
     and cpu_seconds_per_day < 9223372036854775 then cpu_seconds_per_day * 1000 \
     else 9223372036854775807 end from user_quota where user_id = $1 \
     and cpu_seconds_per_day is not null), $4)";

#[async_trait]
impl QuotaStore for BackendStore {
    async fn quota_overrides(&self, user_id: Uuid) -> StoreResult<QuotaOverrideRow> {
        let row = sqlx::query(
            "select runs_per_day, cpu_seconds_per_day, sessions, storage_bytes \
             from user_quota where user_id = $1",
        )
        .bind(id(user_id))
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        let Some(row) = row else {
            return Ok(QuotaOverrideRow::default());
        };
        Ok(QuotaOverrideRow {
            runs_per_day: row.try_get("runs_per_day")?,
            cpu_seconds_per_day: row.try_get("cpu_seconds_per_day")?,
            sessions: row.try_get("sessions")?,
            storage_bytes: row.try_get("storage_bytes")?,
        })
    }

    #[tracing::instrument(skip_all, fields(user.id = %user_id))]
    async fn set_quota_overrides(
        &self,
        user_id: Uuid,
        overrides: &QuotaOverrideRow,
        now: OffsetDateTime,
        audit: &[AuditEvent],
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        // The user's and the entries' chain owners' (an admin's), always in the same order, so
        // two admins changing each other's quotas cannot deadlock.
        let mut users: Vec<Uuid> = audit.iter().map(|e| e.user_id).collect();
        users.push(user_id);
        users.sort_unstable();
        users.dedup();
        for user in users {
            lock_user(&mut tx, user).await?;
        }
        if overrides.is_empty() {
            sqlx::query("delete from user_quota where user_id = $1")
                .bind(id(user_id))
                .execute(&mut *tx)
                .await?;
        } else {
            let at = to_unix_ms(now);
            sqlx::query(
                "insert into user_quota (user_id, runs_per_day, cpu_seconds_per_day, sessions, \
                 storage_bytes, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $6) \
                 on conflict (user_id) do update set runs_per_day = excluded.runs_per_day, \
                 cpu_seconds_per_day = excluded.cpu_seconds_per_day, \
                 sessions = excluded.sessions, storage_bytes = excluded.storage_bytes, \
                 updated_at = excluded.updated_at",
            )
            .bind(id(user_id))
            .bind(overrides.runs_per_day)
            .bind(overrides.cpu_seconds_per_day)
            .bind(overrides.sessions)
            .bind(overrides.storage_bytes)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        for event in audit {
            audit::append(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn reserve_run(
        &self,
        user_id: Uuid,
        day: i64,
        max_runs: i64,
        max_cpu_ms: i64,
        now: OffsetDateTime,
    ) -> StoreResult<RunReservation> {
        static RESERVE: LazyLock<String> = LazyLock::new(|| {
            let (runs, cpu) = (LIMIT_RUNS, LIMIT_CPU_MS);
            format!(
                "insert into usage_day (user_id, day, runs, cpu_ms, updated_at) \
                 select $1, $2, 1, 0, $5 where {runs} > 0 and {cpu} > 0 \
                 on conflict (user_id, day) do update set runs = usage_day.runs + 1, \
                 updated_at = excluded.updated_at \
                 where usage_day.runs < {runs} and usage_day.cpu_ms < {cpu} \
                 returning runs, cpu_ms"
            )
        });
        let counted = sqlx::query(RESERVE.as_str())
            .bind(id(user_id))
            .bind(day)
            .bind(max_runs)
            .bind(max_cpu_ms)
            .bind(to_unix_ms(now))
            .fetch_optional(&mut *self.writer().await?)
            .await?;
        match counted {
            Some(row) => Ok(RunReservation::Admitted(DayUsage {
                runs: row.try_get("runs")?,
                cpu_ms: row.try_get("cpu_ms")?,
            })),
            None => Ok(RunReservation::Refused(self.day_usage(user_id, day).await?)),
        }
    }

    async fn release_run(&self, user_id: Uuid, day: i64, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "update usage_day set runs = runs - 1, updated_at = $3 \
             where user_id = $1 and day = $2 and runs > 0",
        )
        .bind(id(user_id))
        .bind(day)
        .bind(to_unix_ms(now))
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    async fn add_cpu_ms(
        &self,
        user_id: Uuid,
        day: i64,
        cpu_ms: i64,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let charge = CpuCharge { day, cpu_ms };
        add_cpu_ms_query(user_id, charge, now)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    async fn day_usage(&self, user_id: Uuid, day: i64) -> StoreResult<DayUsage> {
        let row = sqlx::query("select runs, cpu_ms from usage_day where user_id = $1 and day = $2")
            .bind(id(user_id))
            .bind(day)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        match row {
            Some(row) => Ok(DayUsage {
                runs: row.try_get("runs")?,
                cpu_ms: row.try_get("cpu_ms")?,
            }),
            None => Ok(DayUsage::default()),
        }
    }

    #[tracing::instrument(skip_all, fields(user.id = %record.user_id))]
    async fn put_session_record_within(
        &self,
        record: &SessionRecord,
        max_sessions: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        lock_user(&mut tx, record.user_id).await?;
        let held: i64 =
            sqlx::query_scalar("select count(*) from session_record where user_id = $1")
                .bind(id(record.user_id))
                .fetch_one(&mut *tx)
                .await?;
        if held >= max_sessions {
            return Err(StoreError::conflict(Constraint::SessionQuota));
        }
        super::sessions::insert_record(&mut tx, record).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_record_opened(&self, record: &SessionRecord) -> StoreResult<bool> {
        let done = sqlx::query(
            "update session_record set created_at = $2, last_used_at = $3, expires_at = $4 \
             where session_id = $1",
        )
        .bind(id(record.session_id))
        .bind(to_unix_ms(record.created_at))
        .bind(to_unix_ms(record.last_used_at))
        .bind(to_unix_ms(record.expires_at))
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn zk_code_bytes(&self, user_id: Uuid) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "select coalesce(sum(length(payload)), 0) from zk_code where user_id = $1",
        )
        .bind(id(user_id))
        .fetch_one(&mut *self.reader().await?)
        .await?)
    }

    #[tracing::instrument(skip_all, fields(user.id = %row.user_id, zk.name = %row.name))]
    async fn put_zk_code_within(
        &self,
        row: &ZkCodeRow,
        max_items: u32,
        max_bytes: i64,
        audit: &AuditEvent,
    ) -> StoreResult<PutOutcome> {
        zk_code::put_within(self, row, (max_items, max_bytes), audit).await
    }
}

/// Adds `charge` to its user's day (an upsert): alone, here, or inside the statement that
/// ends the run ([`crate::RunRecordStore::end_run`], through [`charge_sql`]).
pub(super) fn add_cpu_ms_query(
    user_id: Uuid,
    charge: CpuCharge,
    now: OffsetDateTime,
) -> super::audit::Change<'static> {
    static SQL: LazyLock<String> = LazyLock::new(|| charge_sql(["$1", "$2", "$3", "$4"]));
    sqlx::query(SQL.as_str())
        .bind(id(user_id))
        .bind(charge.day)
        .bind(charge.cpu_ms.max(0))
        .bind(to_unix_ms(now))
}

/// The upsert that adds CPU milliseconds to a user's day, its parameters named by `[user,
/// day, cpu_ms, at]`.
pub(super) fn charge_sql([user, day, cpu_ms, at]: [&str; 4]) -> String {
    charge_from(&format!("values ({user}, {day}, 0, {cpu_ms}, {at})"))
}

/// [`charge_sql`] that adds only while `condition` holds.
pub(super) fn charge_sql_if([user, day, cpu_ms, at]: [&str; 4], condition: &str) -> String {
    charge_from(&format!(
        "select {user}, {day}, 0, {cpu_ms}, {at} where {condition}"
    ))
}

/// The charge's upsert of the row `source` gives (`values` or a `select` with a `where`,
/// which SQLite needs before an `on conflict`).
fn charge_from(source: &str) -> String {
    format!(
        "insert into usage_day (user_id, day, runs, cpu_ms, updated_at) {source} \
         on conflict (user_id, day) do update set cpu_ms = usage_day.cpu_ms + excluded.cpu_ms, \
         updated_at = excluded.updated_at"
    )
}
