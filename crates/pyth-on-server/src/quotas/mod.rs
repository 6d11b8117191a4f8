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
//! layer); [`user_quota`] and [`set_user_quota`] are what the routes call ([`crate::usage`]
//! reads a user's use of each).

pub mod refusal;
pub mod runs;
pub mod settings;

use pyth_on_store::{AuditEvent, QuotaOverrideRow, StoreError};
use pyth_on_types::{QuotaOverrides, UserQuota};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::state::AppState;

pub use refusal::{Quota, QuotaError, QuotaExceeded};
pub use runs::{charge_cpu, cpu_charge, reserve_run, RunTicket};
pub use settings::QuotaSettings;

const DAY_SECS: i64 = 86_400;

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

/// The server's quotas, for a user without overrides.
pub(crate) fn default_limits(state: &AppState) -> Limits {
    effective(state, &QuotaOverrides::default())
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
