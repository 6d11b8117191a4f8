//! The generic cell rate algorithm (GCRA), as a pure function both backends share: the
//! database only stores each key's theoretical arrival time (TAT) and serialises updates.
//!
//! With emission interval `T` (period / limit) and `burst` `B`, a key may take `B` cells at
//! once and then one every `T`. A cell arriving at `now` is allowed iff
//! `max(tat, now) + T - now <= T * B`; if so the stored TAT becomes `max(tat, now) + T`.

/// The answer for one cell, with everything `RateLimit-*` / `Retry-After` headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the cell conforms (the request may proceed).
    pub allowed: bool,
    /// The burst (`B`).
    pub limit: u32,
    /// Cells still available right now after this decision.
    pub remaining: u32,
    /// Milliseconds until the bucket is completely full again.
    pub reset_after_ms: i64,
    /// Milliseconds until a denied cell would be allowed; 0 when allowed.
    pub retry_after_ms: i64,
}

/// Decides one cell. `prev_tat` is the stored TAT (`None` for an unknown key); returns the
/// decision and the TAT to store (unchanged when denied). An `emission_interval_ms` below 1
/// is treated as 1.
pub fn gcra(
    prev_tat: Option<i64>,
    now: i64,
    emission_interval_ms: i64,
    burst: u32,
) -> (RateDecision, i64) {
    let t = emission_interval_ms.max(1);
    let tau = t.saturating_mul(i64::from(burst));
    let tat = prev_tat.map_or(now, |p| p.max(now));
    let new_tat = tat.saturating_add(t);
    let used = new_tat - now;
    if used <= tau {
        let remaining = (tau - used) / t;
        let decision = RateDecision {
            allowed: true,
            limit: burst,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_after_ms: used,
            retry_after_ms: 0,
        };
        (decision, new_tat)
    } else {
        let decision = RateDecision {
            allowed: false,
            limit: burst,
            remaining: 0,
            reset_after_ms: tat - now,
            retry_after_ms: used - tau,
        };
        (decision, tat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `n` cells at `now`, threading the TAT through.
    fn take(tat: &mut Option<i64>, now: i64, t: i64, burst: u32) -> RateDecision {
        let (d, next) = gcra(*tat, now, t, burst);
        *tat = Some(next);
        d
    }

    #[test]
    fn a_fresh_key_allows_exactly_the_burst_then_denies() {
        let mut tat = None;
        for expected_remaining in (0..5).rev() {
            let d = take(&mut tat, 1_000, 200, 5);
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
            assert_eq!(d.limit, 5);
        }
        let denied = take(&mut tat, 1_000, 200, 5);
        assert!(!denied.allowed);
        assert_eq!(denied.remaining, 0);
        assert_eq!(denied.retry_after_ms, 200);
        assert_eq!(denied.reset_after_ms, 1_000);
        assert_eq!(tat, Some(2_000), "a denied cell does not move the TAT");
    }

    #[test]
    fn a_denied_key_is_allowed_again_exactly_after_retry_after() {
        let mut tat = None;
        for _ in 0..3 {
            assert!(take(&mut tat, 0, 100, 3).allowed);
        }
        let denied = take(&mut tat, 10, 100, 3);
        assert_eq!(denied.retry_after_ms, 90);
        assert!(!take(&mut tat, 99, 100, 3).allowed);
        let again = take(&mut tat, 100, 100, 3);
        assert!(again.allowed);
        assert_eq!(again.remaining, 0);
    }

    #[test]
    fn an_idle_key_refills_completely_and_no_further() {
        let mut tat = None;
        for _ in 0..4 {
            take(&mut tat, 0, 250, 4);
        }
        let later = take(&mut tat, 1_000_000, 250, 4);
        assert!(later.allowed);
        assert_eq!(later.remaining, 3);
        assert_eq!(later.reset_after_ms, 250);
    }

    #[test]
    fn a_zero_burst_denies_everything() {
        let (d, tat) = gcra(None, 0, 100, 0);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_ms, 100);
        assert_eq!(tat, 0);
    }

    #[test]
    fn a_zero_emission_interval_is_treated_as_one_millisecond() {
        let (d, tat) = gcra(None, 0, 0, 2);
        assert!(d.allowed);
        assert_eq!(tat, 1);
    }
}
