//! A user's use of each quota today (`GET /api/v1/usage`, and the admin's list of users):
//! the runs and CPU seconds of the UTC day, the sessions open on every node, the bytes held.
//! Its own module because it reads what the quotas bound in three places (the quotas' day
//! counts, the sessions, the package environments), none of which depends on the others.

use pyth_on_types::{QuotaUse, Usage};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::quotas::{day_of, limits, reset_at, QuotaError};
use crate::state::AppState;

fn quota_use(used: f64, limit: u64, reset_at: Option<OffsetDateTime>) -> QuotaUse {
    QuotaUse {
        used,
        limit: (limit > 0).then_some(limit),
        reset_at,
    }
}

/// `user_id`'s use of each quota: today's runs and CPU seconds (UTC), the sessions open on
/// every node and the bytes held, each with its limit and, for the daily ones, the reset time.
pub async fn of(state: &AppState, user_id: Uuid) -> Result<Usage, QuotaError> {
    let limits = limits(state, user_id).await?;
    let day = day_of(OffsetDateTime::now_utc());
    let today = state.store().day_usage(user_id, day).await?;
    let open = crate::sessions::quota::open(state, user_id).await?;
    let stored = crate::packages::storage::used(state, user_id).await?;
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
