//! SQLite `RateLimitStore`: [`gcra`] as one atomic upsert (`max(tat, now) + T`, written only
//! when it stays within the burst; `RETURNING` says whether it was), so an allowed request
//! costs one statement, not a transaction of four round trips to SQLite's worker thread (each
//! a thread wake-up on an idle machine: this runs before every authenticated request).
//! Concurrent requests for one key take distinct cells because SQLite runs the statement
//! under its write lock. A refused request reads the TAT once more to say when to retry. A
//! refund is one `update`, atomic for the same reason.

use async_trait::async_trait;

use super::SqliteStore;
use crate::error::StoreResult;
use crate::gcra::{gcra, RateDecision};
use crate::traits::RateLimitStore;

impl SqliteStore {
    /// The stored theoretical arrival time of `key`, if any.
    async fn tat(&self, key: &str) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("select tat from rate_limit where rate_limit_key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

#[async_trait]
impl RateLimitStore for SqliteStore {
    async fn rate_limit(
        &self,
        key: &str,
        now_ms: i64,
        emission_interval_ms: i64,
        burst: u32,
    ) -> StoreResult<RateDecision> {
        let t = emission_interval_ms.max(1);
        let tau = t.saturating_mul(i64::from(burst));
        let new_tat: Option<i64> = sqlx::query_scalar(
            "insert into rate_limit (rate_limit_key, tat, created_at, updated_at) \
             select ?1, ?2 + ?3, ?2, ?2 where ?3 <= ?4 \
             on conflict (rate_limit_key) do update \
             set tat = max(tat, ?2) + ?3, updated_at = ?2 \
             where max(tat, ?2) + ?3 - ?2 <= ?4 \
             returning tat",
        )
        .bind(key)
        .bind(now_ms)
        .bind(t)
        .bind(tau)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(new_tat) = new_tat {
            // What gcra() decides for the TAT that was there before.
            return Ok(gcra(Some(new_tat - t), now_ms, t, burst).0);
        }
        let tat = self.tat(key).await?;
        let mut decision = gcra(tat, now_ms, t, burst).0;
        if decision.allowed {
            // Time passed between the two statements; the request was still refused.
            decision.allowed = false;
            decision.remaining = 0;
            decision.retry_after_ms = 1;
        }
        Ok(decision)
    }

    async fn rate_limit_refund(
        &self,
        key: &str,
        now_ms: i64,
        emission_interval_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "update rate_limit set tat = max(tat - ?2, ?3), updated_at = ?3 \
             where rate_limit_key = ?1 and tat > ?3",
        )
        .bind(key)
        .bind(emission_interval_ms.max(1))
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn rate_limit_peek(
        &self,
        key: &str,
        now_ms: i64,
        emission_interval_ms: i64,
        burst: u32,
    ) -> StoreResult<RateDecision> {
        let tat = self.tat(key).await?;
        Ok(gcra(tat, now_ms, emission_interval_ms, burst).0)
    }

    async fn purge_rate_limits(&self, now_ms: i64) -> StoreResult<u64> {
        let done = sqlx::query("delete from rate_limit where tat < ?")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
