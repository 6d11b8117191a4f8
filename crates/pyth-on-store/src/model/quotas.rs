//! Quotas: a user's overrides of the server-wide defaults, and their usage of one UTC day.

/// A user's quota overrides: `None` is the server's default (its setting); `Some(0)` is
/// unlimited, as for the settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaOverrideRow {
    /// Runs admitted per UTC day.
    pub runs_per_day: Option<i64>,
    /// CPU seconds per UTC day.
    pub cpu_seconds_per_day: Option<i64>,
    /// Sessions open at once, on every node.
    pub sessions: Option<i64>,
    /// Bytes of encrypted code and package environments.
    pub storage_bytes: Option<i64>,
}

impl QuotaOverrideRow {
    /// Whether every quota is the server's default (the row is then deleted).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The CPU time of a run that ended, for its owner's usage of `day` (charged with the run's
/// outcome: [`crate::RunRecordStore::end_run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuCharge {
    /// The UTC day the run was counted on (days since the Unix epoch).
    pub day: i64,
    /// CPU milliseconds (negative counts as 0).
    pub cpu_ms: i64,
}

/// A user's usage of one UTC day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayUsage {
    /// Runs admitted (a refund gives a run that never started back).
    pub runs: i64,
    /// CPU milliseconds of the runs that ended.
    pub cpu_ms: i64,
}

/// What [`crate::QuotaStore::reserve_run`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunReservation {
    /// The run is counted; the day's usage with it.
    Admitted(DayUsage),
    /// The day's runs or CPU are used up; nothing was counted; the day's usage.
    Refused(DayUsage),
}
