//! What a quota refusal is: the closed set of quotas, [`QuotaExceeded`] (which quota, its
//! limit, what is used, when it resets) and [`QuotaError`]. Apart from the counting so the
//! modules that only carry a refusal (packages, runs, errors) need nothing else of the quotas.

use pyth_on_store::StoreError;
use serde_json::json;
use time::OffsetDateTime;

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
