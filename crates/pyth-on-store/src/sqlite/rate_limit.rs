//! SQLite `RateLimitStore`: read the TAT, decide with [`gcra`], write it back, all under
//! `BEGIN IMMEDIATE` so concurrent requests for one key take distinct cells.

use async_trait::async_trait;

use super::SqliteStore;
use crate::error::StoreResult;
use crate::gcra::{gcra, RateDecision};
use crate::traits::RateLimitStore;

#[async_trait]
impl RateLimitStore for SqliteStore {
    async fn rate_limit(
        &self,
        key: &str,
        now_ms: i64,
        emission_interval_ms: i64,
        burst: u32,
    ) -> StoreResult<RateDecision> {
        let mut tx = self.begin_immediate().await?;
        let tat: Option<i64> =
            sqlx::query_scalar("select tat from rate_limit where rate_limit_key = ?")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
        let (decision, new_tat) = gcra(tat, now_ms, emission_interval_ms, burst);
        if decision.allowed {
            sqlx::query(
                "insert into rate_limit (rate_limit_key, tat, created_at, updated_at) \
                 values (?1, ?2, ?3, ?3) \
                 on conflict (rate_limit_key) do update set tat = ?2, updated_at = ?3",
            )
            .bind(key)
            .bind(new_tat)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(decision)
    }

    async fn rate_limit_peek(
        &self,
        key: &str,
        now_ms: i64,
        emission_interval_ms: i64,
        burst: u32,
    ) -> StoreResult<RateDecision> {
        let tat: Option<i64> =
            sqlx::query_scalar("select tat from rate_limit where rate_limit_key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
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
