//! `RateLimitStore`, both backends: [`gcra`] as one atomic upsert ([`TAKE`]: `max(tat, now) +
//! T`, written only when it stays within the burst; `RETURNING` says whether it was), so a
//! request costs one statement, not a transaction of four or five round trips (this runs
//! before every authenticated request). Concurrent requests for one key take distinct cells:
//! SQLite runs the statement under its write lock; PostgreSQL's `on conflict do update`
//! locks the key's row and decides on its latest committed TAT.
//!
//! A refused request needs the TAT to say when to retry. PostgreSQL reads it in the same
//! statement ([`TAKE_OR_READ`]: the refused upsert keeps the row locked, so the read sees the
//! very TAT it was refused on); SQLite, which has no writable `with`, reads it once more. A
//! refund is one `update`, atomic for the same reasons (PostgreSQL applies it to the latest
//! committed TAT under the row's lock).
//!
//! One copy for both backends: compiled in `sqlite` and in `postgres`, `super` being the
//! backend and its dialect (see "The store code" in the crate README).

use async_trait::async_trait;

use super::{BackendStore, WRITABLE_WITH};
use crate::error::StoreResult;
use crate::gcra::{gcra, RateDecision};
use crate::traits::RateLimitStore;

/// The upsert of [`TAKE`], as a literal so [`TAKE_OR_READ`] can hold it too. `case when a > b
/// then a else b end` is `max(a, b)` in both dialects (SQLite's `max`, PostgreSQL's
/// `greatest`).
macro_rules! take {
    () => {
        "insert into rate_limit (rate_limit_key, tat, created_at, updated_at) \
         select $1, $2 + $3, $2, $2 where $3 <= $4 \
         on conflict (rate_limit_key) do update \
         set tat = case when rate_limit.tat > $2 then rate_limit.tat else $2 end + $3, \
         updated_at = $2 \
         where case when rate_limit.tat > $2 then rate_limit.tat else $2 end + $3 - $2 <= $4 \
         returning tat"
    };
}

/// Takes one cell of key `$1` at `$2` (ms) with emission interval `$3` and tolerance `$4`
/// (`T * burst`): returns the new TAT, or no row when refused (nothing written).
const TAKE: &str = take!();

/// [`TAKE`], and when it refuses, the TAT it refused on: the refused upsert holds the row's
/// lock, and `for update` reads its latest version (a row another transaction inserted since
/// the statement began stays unseen: see [`decide`]).
const TAKE_OR_READ: &str = concat!(
    "with taken as (",
    take!(),
    ") select (select tat from taken) as taken, \
     (select tat from rate_limit where rate_limit_key = $1 \
     and not exists (select 1 from taken) for update) as current"
);

/// The decision for a cell that [`TAKE`] took (`taken`: the new TAT) or refused (`current`:
/// the TAT read after). A refusal whose TAT would allow the cell (a refund or purge came in
/// between, or a concurrent first request's row was not yet visible) stays a refusal: retry
/// in 1 ms.
fn decide(
    taken: Option<i64>,
    current: Option<i64>,
    now_ms: i64,
    t: i64,
    burst: u32,
) -> RateDecision {
    if let Some(new_tat) = taken {
        // What gcra() decides for the TAT that was there before.
        return gcra(Some(new_tat - t), now_ms, t, burst).0;
    }
    let mut decision = gcra(current, now_ms, t, burst).0;
    if decision.allowed {
        decision.allowed = false;
        decision.remaining = 0;
        decision.retry_after_ms = 1;
    }
    decision
}

impl BackendStore {
    /// The stored theoretical arrival time of `key`, if any.
    async fn tat(&self, key: &str) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("select tat from rate_limit where rate_limit_key = $1")
                .bind(key)
                .fetch_optional(&mut *self.reader().await?)
                .await?,
        )
    }
}

#[async_trait]
impl RateLimitStore for BackendStore {
    async fn rate_limit(
        &self,
        key: &str,
        now_ms: i64,
        emission_interval_ms: i64,
        burst: u32,
    ) -> StoreResult<RateDecision> {
        let t = emission_interval_ms.max(1);
        let tau = t.saturating_mul(i64::from(burst));
        let (taken, current) = if WRITABLE_WITH {
            sqlx::query_as(TAKE_OR_READ)
                .bind(key)
                .bind(now_ms)
                .bind(t)
                .bind(tau)
                .fetch_one(&mut *self.writer().await?)
                .await?
        } else {
            let taken: Option<i64> = sqlx::query_scalar(TAKE)
                .bind(key)
                .bind(now_ms)
                .bind(t)
                .bind(tau)
                .fetch_optional(&mut *self.writer().await?)
                .await?;
            match taken {
                Some(_) => (taken, None),
                None => (None, self.tat(key).await?),
            }
        };
        Ok(decide(taken, current, now_ms, t, burst))
    }

    async fn rate_limit_refund(
        &self,
        key: &str,
        now_ms: i64,
        emission_interval_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "update rate_limit set tat = case when tat - $2 > $3 then tat - $2 else $3 end, \
             updated_at = $3 where rate_limit_key = $1 and tat > $3",
        )
        .bind(key)
        .bind(emission_interval_ms.max(1))
        .bind(now_ms)
        .execute(&mut *self.writer().await?)
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
        let done = sqlx::query("delete from rate_limit where tat < $1")
            .bind(now_ms)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(done.rows_affected())
    }
}
