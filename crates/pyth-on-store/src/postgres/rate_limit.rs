//! PostgreSQL `RateLimitStore`: the key's row is created if missing, locked `for update`,
//! decided with [`gcra`] and written back in one transaction, so nodes sharing the database
//! take distinct cells. A refund is one `update`, which PostgreSQL applies to the latest
//! committed TAT under the row's lock.

use async_trait::async_trait;

use super::PgStore;
use crate::error::StoreResult;
use crate::gcra::{gcra, RateDecision};
use crate::traits::RateLimitStore;

#[async_trait]
impl RateLimitStore for PgStore {
    async fn rate_limit(
        &self,
        key: &str,
        now_ms: i64,
        emission_interval_ms: i64,
        burst: u32,
    ) -> StoreResult<RateDecision> {
        let mut tx = self.pool.begin().await?;
        // A TAT of `now` means the same as no row, so a placeholder is harmless; it gives
        // `for update` a row to lock even for a key's very first request.
        sqlx::query(
            "insert into rate_limit (rate_limit_key, tat, created_at, updated_at) \
             values ($1, $2, $2, $2) on conflict (rate_limit_key) do nothing",
        )
        .bind(key)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let tat: i64 =
            sqlx::query_scalar("select tat from rate_limit where rate_limit_key = $1 for update")
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
        let (decision, new_tat) = gcra(Some(tat), now_ms, emission_interval_ms, burst);
        if decision.allowed {
            sqlx::query(
                "update rate_limit set tat = $2, updated_at = $3 where rate_limit_key = $1",
            )
            .bind(key)
            .bind(new_tat)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(decision)
    }

    async fn rate_limit_refund(
        &self,
        key: &str,
        now_ms: i64,
        emission_interval_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "update rate_limit set tat = greatest(tat - $2, $3), updated_at = $3 \
             where rate_limit_key = $1 and tat > $3",
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
        let tat: Option<i64> =
            sqlx::query_scalar("select tat from rate_limit where rate_limit_key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(gcra(tat, now_ms, emission_interval_ms, burst).0)
    }

    async fn purge_rate_limits(&self, now_ms: i64) -> StoreResult<u64> {
        let done = sqlx::query("delete from rate_limit where tat < $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
