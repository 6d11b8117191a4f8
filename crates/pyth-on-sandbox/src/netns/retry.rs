//! When the maker may try again after a namespace it could not make: a host where creation
//! always fails (a kernel without IPv6 has no file of the trace) would otherwise pay a whole
//! creation, about 1 ms of CPU, for every run that asked for a namespace.

use std::time::{Duration, Instant};

/// The first wait after a failure; each failure in a row doubles it, up to [`LONGEST`].
const FIRST: Duration = Duration::from_secs(1);

/// The longest wait between two tries.
const LONGEST: Duration = Duration::from_secs(60);

/// The maker's tries: none held back until one fails.
#[derive(Debug, Default)]
pub(super) struct Retry {
    /// When the next try may be made, and the wait that set it.
    held: Option<(Instant, Duration)>,
}

impl Retry {
    /// Whether a try may be made at `now`.
    pub(super) fn allows(&self, now: Instant) -> bool {
        self.held.is_none_or(|(next, _)| now >= next)
    }

    /// A try failed at `now`: the next waits [`FIRST`], or twice the last wait.
    pub(super) fn failed(&mut self, now: Instant) {
        let wait = self.held.map_or(FIRST, |(_, last)| (last * 2).min(LONGEST));
        self.held = Some((now + wait, wait));
    }

    /// A namespace was made: the next failure waits [`FIRST`] again.
    pub(super) fn succeeded(&mut self) {
        self.held = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_are_allowed_until_one_fails_and_then_only_after_a_second() {
        let (mut retry, t) = (Retry::default(), Instant::now());
        assert!(retry.allows(t));
        retry.failed(t);
        assert!(!retry.allows(t + Duration::from_millis(999)));
        assert!(retry.allows(t + FIRST));
    }

    #[test]
    fn each_failure_in_a_row_doubles_the_wait_up_to_a_minute_and_a_success_resets_it() {
        let (mut retry, mut t) = (Retry::default(), Instant::now());
        let mut waits = Vec::new();
        for _ in 0..9 {
            retry.failed(t);
            let (next, _) = retry.held.unwrap();
            waits.push((next - t).as_secs());
            t = next;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        retry.succeeded();
        assert!(retry.allows(t));
        retry.failed(t);
        assert!(retry.allows(t + FIRST) && !retry.allows(t + FIRST / 2));
    }
}
