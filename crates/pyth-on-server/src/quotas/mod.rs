//! Per-user quotas: runs and CPU seconds per UTC day, sessions open on every node, and
//! storage (encrypted code and package environments). Each is the server's default
//! ([`QuotaSettings`]) unless the operator set an override for the user; `0` is unlimited.
//! The store counts in the statement or transaction that writes
//! ([`pyth_on_store::QuotaStore`]), so nodes sharing a database never pass a quota together.
//!
//! The day is the UTC calendar day: every user's daily use starts again at 00:00 UTC, the
//! same instant on every node and for every user, so `resetAt` needs no per-user state.
//!
//! No HTTP here: a refusal is a [`QuotaExceeded`] (answered 429 `quota_exceeded` by the HTTP
//! layer); [`usage`], [`user_quota`] and [`set_user_quota`] are what the routes call.

pub mod runs;
pub mod sessions;
pub mod settings;
pub mod storage;

use pyth_on_store::{AuditEvent, QuotaOverrideRow, StoreError};
use pyth_on_types::{QuotaOverrides, QuotaUse, Usage, UserQuota};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::state::AppState;

pub use runs::{charge_cpu, reserve_run, RunTicket};
pub use settings::QuotaSettings;

const DAY_SECS: i64 = 86_400;

/// The quotas (a closed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// Runs admitted per UTC day.
    RunsPerDay,
    /// CPU seconds per UTC day.
    CpuSecondsPerDay,
    /// Sessions open at once on every node.
    Sessions,
    /// Bytes of encrypted code and package environments.
    StorageBytes,
}

impl Quota {
    /// Its name in answers (`details.quota`) and overrides.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RunsPerDay => "runsPerDay",
            Self::CpuSecondsPerDay => "cpuSecondsPerDay",
            Self::Sessions => "sessions",
            Self::StorageBytes => "storageBytes",
        }
    }
}

/// A quota refused something: which, its limit, what is used, and when a daily one resets.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaExceeded {
    /// The quota.
    pub quota: Quota,
    /// Its limit for this user.
    pub limit: u64,
    /// What the user uses of it (runs, CPU seconds, sessions, bytes).
    pub used: f64,
    /// For a daily quota: the next 00:00 UTC.
    pub reset_at: Option<OffsetDateTime>,
}

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (limit, used) = (self.limit, self.used);
        match self.quota {
            Quota::RunsPerDay => write!(
                f,
                "your quota of {limit} runs per day is used up ({used} today); it resets at \
                 00:00 UTC"
            ),
            Quota::CpuSecondsPerDay => write!(
                f,
                "your quota of {limit} CPU seconds per day is used up ({used:.1} s today); it \
                 resets at 00:00 UTC"
            ),
            Quota::Sessions => write!(
                f,
                "your quota of {limit} open sessions is reached ({used} open on this server); \
                 delete one first"
            ),
            Quota::StorageBytes => write!(
                f,
                "your storage quota of {limit} bytes would be exceeded ({used} bytes held); \
                 delete encrypted code or packages first"
            ),
        }
    }
}

impl std::error::Error for QuotaExceeded {}

impl QuotaExceeded {
    /// The answer's `details`: `quota`, `limit`, `used` and `resetAt` (`null` when it does not
    /// reset by itself).
    pub fn details(&self) -> serde_json::Value {
        json!({
            "quota": self.quota.as_str(),
            "limit": self.limit,
            "used": used_json(self.used),
            "resetAt": self.reset_at.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        })
    }

    /// Whole seconds from `now` until it resets (at least 1); `None` when it does not reset
    /// by itself.
    pub fn retry_after_secs(&self, now: OffsetDateTime) -> Option<u64> {
        let reset_at = self.reset_at?;
        let secs = (reset_at - now).as_seconds_f64().ceil();
        Some(if secs >= 1.0 { secs as u64 } else { 1 })
    }
}

/// A whole use as an integer (`5`, not `5.0`), CPU seconds as they are.
fn used_json(used: f64) -> serde_json::Value {
    if used.fract() == 0.0 && used.abs() < 9_007_199_254_740_992.0 {
        json!(used as i64)
    } else {
        json!(used)
    }
}

/// Why a quota read or change failed.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// There is no such user.
    #[error("no such user")]
    UserNotFound,
    /// A quota refused the change or the run.
    #[error(transparent)]
    Exceeded(#[from] QuotaExceeded),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A user's quotas as they apply (`0`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Runs per UTC day.
    pub runs_per_day: u64,
    /// CPU seconds per UTC day.
    pub cpu_seconds_per_day: u64,
    /// Sessions open at once on every node.
    pub sessions: u64,
    /// Bytes of storage.
    pub storage_bytes: u64,
}

/// A limit as the store takes it: `0` (unlimited) is no bound.
pub fn bound(limit: u64) -> i64 {
    if limit == 0 {
        i64::MAX
    } else {
        i64::try_from(limit).unwrap_or(i64::MAX)
    }
}

/// The UTC day of `at` (days since 1970-01-01).
pub fn day_of(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(DAY_SECS)
}

/// When `day` ends: the next 00:00 UTC.
pub fn reset_at(day: i64) -> OffsetDateTime {
    let secs = day.saturating_add(1).saturating_mul(DAY_SECS);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The overrides as the store keeps them.
/// The stored form of `overrides`.
pub fn to_row(overrides: &QuotaOverrides) -> QuotaOverrideRow {
    let stored = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    QuotaOverrideRow {
        runs_per_day: stored(overrides.runs_per_day),
        cpu_seconds_per_day: stored(overrides.cpu_seconds_per_day),
        sessions: stored(overrides.sessions),
        storage_bytes: stored(overrides.storage_bytes),
    }
}

/// The wire form of stored overrides.
pub fn from_row(row: &QuotaOverrideRow) -> QuotaOverrides {
    let read = |v: Option<i64>| v.map(|v| u64::try_from(v).unwrap_or(0));
    QuotaOverrides {
        runs_per_day: read(row.runs_per_day),
        cpu_seconds_per_day: read(row.cpu_seconds_per_day),
        sessions: read(row.sessions),
        storage_bytes: read(row.storage_bytes),
    }
}

/// The quotas that apply: each override, else the server's default.
fn effective(state: &AppState, overrides: &QuotaOverrides) -> Limits {
    let defaults = &state.settings().quotas;
    Limits {
        runs_per_day: overrides
            .runs_per_day
            .unwrap_or(defaults.quota_runs_per_day),
        cpu_seconds_per_day: overrides
            .cpu_seconds_per_day
            .unwrap_or(defaults.quota_cpu_seconds_per_day),
        sessions: overrides
            .sessions
            .unwrap_or(defaults.quota_sessions_per_user),
        storage_bytes: overrides
            .storage_bytes
            .unwrap_or(defaults.quota_storage_mb.saturating_mul(1024 * 1024)),
    }
}

/// `user_id`'s quotas as they apply now.
pub async fn limits(state: &AppState, user_id: Uuid) -> Result<Limits, StoreError> {
    let row = state.store().quota_overrides(user_id).await?;
    Ok(effective(state, &from_row(&row)))
}

/// `user_id`'s quotas: the ones that apply, and the overrides set.
pub async fn user_quota(state: &AppState, user_id: Uuid) -> Result<UserQuota, QuotaError> {
    if state.store().user_by_id(user_id).await?.is_none() {
        return Err(QuotaError::UserNotFound);
    }
    let overrides = from_row(&state.store().quota_overrides(user_id).await?);
    let limits = effective(state, &overrides);
    Ok(UserQuota {
        runs_per_day: limits.runs_per_day,
        cpu_seconds_per_day: limits.cpu_seconds_per_day,
        sessions: limits.sessions,
        storage_bytes: limits.storage_bytes,
        overrides,
    })
}

/// Replaces `user_id`'s overrides (`None`: the server's default; all `None` removes them),
/// appending `audit` in the same transaction; answers the quotas that now apply. They take
/// effect at the user's next run, session or write, on every node.
pub async fn set_user_quota(
    state: &AppState,
    user_id: Uuid,
    overrides: &QuotaOverrides,
    audit: &[AuditEvent],
) -> Result<UserQuota, QuotaError> {
    if state.store().user_by_id(user_id).await?.is_none() {
        return Err(QuotaError::UserNotFound);
    }
    let row = to_row(overrides);
    state
        .store()
        .set_quota_overrides(user_id, &row, OffsetDateTime::now_utc(), audit)
        .await?;
    user_quota(state, user_id).await
}

fn quota_use(used: f64, limit: u64, reset_at: Option<OffsetDateTime>) -> QuotaUse {
    QuotaUse {
        used,
        limit: (limit > 0).then_some(limit),
        reset_at,
    }
}

/// `user_id`'s use of each quota: today's runs and CPU seconds (UTC), the sessions open on
/// every node and the bytes held, each with its limit and, for the daily ones, the reset time.
pub async fn usage(state: &AppState, user_id: Uuid) -> Result<Usage, QuotaError> {
    let limits = limits(state, user_id).await?;
    let day = day_of(OffsetDateTime::now_utc());
    let today = state.store().day_usage(user_id, day).await?;
    let open = sessions::open(state, user_id).await?;
    let stored = storage::used(state, user_id).await?;
    let reset = reset_at(day);
    Ok(Usage {
        day: reset_at(day - 1).date().to_string(),
        reset_at: reset,
        runs: quota_use(today.runs as f64, limits.runs_per_day, Some(reset)),
        cpu_seconds: quota_use(
            today.cpu_ms as f64 / 1000.0,
            limits.cpu_seconds_per_day,
            Some(reset),
        ),
        sessions: quota_use(open as f64, limits.sessions, None),
        storage_bytes: quota_use(stored as f64, limits.storage_bytes, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_runs_from_midnight_to_midnight_utc() {
        let at = time::macros::datetime!(2026-12-05 23:59:59 UTC);
        let day = day_of(at);
        assert_eq!(
            reset_at(day),
            time::macros::datetime!(2026-12-06 00:00:00 UTC)
        );
        assert_eq!(
            day_of(time::macros::datetime!(2026-12-06 00:00:00 UTC)),
            day + 1
        );
        assert_eq!(reset_at(day - 1).date().to_string(), "2026-12-05");
    }

    #[test]
    fn a_refusal_says_which_quota_its_limit_use_and_reset() {
        let reset = time::macros::datetime!(2026-12-06 00:00:00 UTC);
        let refused = QuotaExceeded {
            quota: Quota::RunsPerDay,
            limit: 5,
            used: 5.0,
            reset_at: Some(reset),
        };
        let details = refused.details();
        assert_eq!(details["quota"], "runsPerDay");
        assert_eq!(details["limit"], 5);
        assert_eq!(details["resetAt"], "2026-12-06T00:00:00Z");
        let now = time::macros::datetime!(2026-12-05 23:59:30.5 UTC);
        assert_eq!(refused.retry_after_secs(now), Some(30));
        assert!(refused.to_string().contains("5 runs per day"));
    }

    #[test]
    fn zero_is_no_bound() {
        assert_eq!(bound(0), i64::MAX);
        assert_eq!(bound(3), 3);
        assert_eq!(bound(u64::MAX), i64::MAX);
    }
}
