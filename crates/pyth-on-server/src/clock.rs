//! Wall-clock time as the store's rate limiter counts it, and the per-minute buckets every
//! node shares through the store.

use pyth_on_store::{RateDecision, Store, StoreResult};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Takes one cell from `key`'s bucket of `per_minute` requests per minute.
pub async fn take(store: &dyn Store, key: &str, per_minute: u32) -> StoreResult<RateDecision> {
    store
        .rate_limit(key, now_ms(), interval_ms(per_minute), per_minute)
        .await
}

/// Gives back one cell [`take`]n from `key`'s bucket.
pub async fn give_back(store: &dyn Store, key: &str, per_minute: u32) -> StoreResult<()> {
    store
        .rate_limit_refund(key, now_ms(), interval_ms(per_minute))
        .await
}

/// The emission interval of a bucket of `per_minute` cells a minute.
fn interval_ms(per_minute: u32) -> i64 {
    (60_000 / i64::from(per_minute.max(1))).max(1)
}
