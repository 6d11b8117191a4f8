//! GCRA rate limits backed by the store, so every node on one database shares the buckets, and
//! the `RateLimit-*` / `Retry-After` headers.

use axum::http::{HeaderMap, HeaderValue};
use pyth_on_store::RateDecision;

pub use crate::clock::{give_back, take};
use crate::error::ApiError;

/// Seconds, rounded up, never zero.
pub fn ceil_secs(ms: i64) -> u64 {
    u64::try_from((ms.max(0) + 999) / 1000)
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The 429 for a refused decision.
pub fn refused(decision: &RateDecision) -> ApiError {
    ApiError::RateLimited {
        retry_after_secs: ceil_secs(decision.retry_after_ms),
    }
}

/// Adds `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds).
pub fn apply_headers(headers: &mut HeaderMap, decision: &RateDecision) {
    headers.insert("ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(decision.remaining));
    headers.insert(
        "ratelimit-reset",
        HeaderValue::from(ceil_secs(decision.reset_after_ms)),
    );
}
