//! The daily quotas at a run's admission: [`reserve_run`] counts the run (one statement in
//! the store, refused once the day's runs or CPU seconds are used up) before it waits for a
//! slot; the [`RunTicket`] gives the run back if it never starts (refused by the node, its
//! client gone while it waited, its setup failed) and is kept once the run is on the record.
//! [`charge_cpu`] adds what a run used when it ends, so a run may take the day past its CPU
//! quota by at most its own time limit; the next run is refused.

use std::sync::Arc;

use pyth_on_store::{CpuCharge, DayUsage, RunReservation, Store};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{bound, day_of, reset_at, Limits, Quota, QuotaError, QuotaExceeded};
use crate::state::AppState;

/// A run counted against its owner's day: given back on drop unless [`RunTicket::keep`] was
/// called (the run started).
pub struct RunTicket {
    store: Arc<dyn Store>,
    user_id: Uuid,
    day: i64,
    kept: bool,
}

impl std::fmt::Debug for RunTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunTicket")
            .field("user_id", &self.user_id)
            .field("day", &self.day)
            .field("kept", &self.kept)
            .finish()
    }
}

impl RunTicket {
    /// The run started: it stays counted. Returns its day, to which its CPU time goes.
    pub fn keep(mut self) -> i64 {
        self.kept = true;
        self.day
    }
}

impl Drop for RunTicket {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, user_id, day) = (self.store.clone(), self.user_id, self.day);
        runtime.spawn(async move {
            let now = OffsetDateTime::now_utc();
            if let Err(err) = store.release_run(user_id, day, now).await {
                tracing::warn!(user.id = %user_id, error = %err,
                    "a run that never started was not given back to its owner's day");
            }
        });
    }
}

/// Counts a run of `user_id` today (UTC), or refuses it when the day's runs or CPU seconds
/// are used up.
///
/// The store applies the user's overrides to the server's defaults in the same statement (one
/// round trip on every run); the overrides are read only to explain a refusal.
pub async fn reserve_run(state: &AppState, user_id: Uuid) -> Result<RunTicket, QuotaError> {
    let defaults = &state.settings().quotas;
    let now = OffsetDateTime::now_utc();
    let day = day_of(now);
    let max_runs = bound(defaults.quota_runs_per_day);
    let max_cpu_ms = bound(defaults.quota_cpu_seconds_per_day.saturating_mul(1000));
    let decision = state
        .store()
        .reserve_run(user_id, day, max_runs, max_cpu_ms, now)
        .await?;
    match decision {
        RunReservation::Admitted(_) => Ok(RunTicket {
            store: state.store_arc(),
            user_id,
            day,
            kept: false,
        }),
        RunReservation::Refused(used) => {
            // Still a refusal if the overrides cannot be read now: explained by the defaults.
            let limits = match super::limits(state, user_id).await {
                Ok(limits) => limits,
                Err(_) => super::default_limits(state),
            };
            Err(QuotaError::Exceeded(refusal(&limits, used, day)))
        }
    }
}

/// Which daily quota refused a run: the runs when they are used up, else the CPU.
fn refusal(limits: &Limits, used: DayUsage, day: i64) -> QuotaExceeded {
    let runs_out = used.runs >= bound(limits.runs_per_day);
    let (quota, limit, used) = if runs_out {
        (Quota::RunsPerDay, limits.runs_per_day, used.runs as f64)
    } else {
        let secs = used.cpu_ms as f64 / 1000.0;
        (Quota::CpuSecondsPerDay, limits.cpu_seconds_per_day, secs)
    };
    QuotaExceeded {
        quota,
        limit,
        used,
        reset_at: Some(reset_at(day)),
    }
}

/// Adds a run's CPU time (milliseconds, rounded up) to `day` of `user_id`. A failure is
/// logged: the run is over either way.
pub async fn charge_cpu(state: &AppState, user_id: Uuid, day: i64, cpu_ms: f64) {
    let Some(charge) = cpu_charge(day, cpu_ms) else {
        return;
    };
    let (ms, now) = (charge.cpu_ms, OffsetDateTime::now_utc());
    if let Err(err) = state.store().add_cpu_ms(user_id, day, ms, now).await {
        tracing::warn!(user.id = %user_id, error = %err, cpu_ms = ms,
            "a run's CPU time was not added to its owner's day");
    }
}

/// `cpu_ms` (rounded up) for `day`; `None` for no time (zero, negative or not a number).
pub fn cpu_charge(day: i64, cpu_ms: f64) -> Option<CpuCharge> {
    (cpu_ms.is_finite() && cpu_ms > 0.0).then(|| CpuCharge {
        day,
        cpu_ms: cpu_ms.ceil() as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_runs_when_they_are_used_up_else_the_cpu() {
        let limits = Limits {
            runs_per_day: 5,
            cpu_seconds_per_day: 10,
            sessions: 0,
            storage_bytes: 0,
        };
        let runs = refusal(
            &limits,
            DayUsage {
                runs: 5,
                cpu_ms: 200,
            },
            3,
        );
        let cpu = refusal(
            &limits,
            DayUsage {
                runs: 2,
                cpu_ms: 10_500,
            },
            3,
        );
        assert_eq!(
            (runs.quota, runs.limit, runs.used),
            (Quota::RunsPerDay, 5, 5.0)
        );
        assert_eq!(
            (cpu.quota, cpu.limit, cpu.used),
            (Quota::CpuSecondsPerDay, 10, 10.5)
        );
        assert_eq!(cpu.reset_at, Some(reset_at(3)));
    }
}
