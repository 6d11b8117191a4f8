//! The end of a run: init (killed if still alive, then reaped) and the run's cgroup (emptied,
//! removed). A finished run's [`Teardown`] is handed to the runner with the result, which it
//! sends first: the answer does not wait for the namespaces to go.

use std::os::fd::AsFd;

use super::{Live, TEARDOWN_DEADLINE};
use crate::cgroup;
use crate::error::SandboxError;
use crate::sys;

/// What is left of a run once its result exists: init (killed if still alive, then reaped) and
/// the cgroup (emptied, removed). The runner sends the result first and then calls
/// [`Teardown::finish`], so the answer does not wait for the namespaces to go; dropping it
/// tears down too.
#[derive(Debug)]
#[must_use = "the sandbox is torn down by finish() or on drop"]
pub struct Teardown {
    pub(crate) live: Option<Live>,
}

impl Teardown {
    /// The teardown of a live sandbox (a session's, [`crate::session`]).
    pub(crate) fn of(live: Live) -> Self {
        Teardown { live: Some(live) }
    }

    /// Lowers the priority of this process and of init to [`super::PREPARE_NICE`]: once the
    /// result is sent, the teardown (init's death takes the namespaces down) is background
    /// work, like a refill, and yields the CPUs to the runs in progress.
    pub fn background(&self) {
        let _ = sys::set_nice(0, super::PREPARE_NICE);
        if let Some(live) = &self.live {
            if !live.init.reaped {
                let _ = sys::set_nice(live.init.pid, super::PREPARE_NICE);
            }
        }
    }

    /// Kills and reaps init if needed, then empties and removes the run's cgroup.
    pub fn finish(mut self) -> Result<(), SandboxError> {
        match self.live.take() {
            Some(live) => teardown(live),
            None => Ok(()),
        }
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            let _ = teardown(live);
        }
    }
}

pub(super) fn teardown(live: Live) -> Result<(), SandboxError> {
    if !live.init.reaped {
        // Through the pidfd: never another process, even if init is already gone.
        let _ = sys::pidfd_send_signal(live.init.pidfd.as_fd(), libc::SIGKILL);
        let _ = sys::waitpid(live.init.pid, false);
    }
    cgroup::destroy(live.cg.as_ref(), TEARDOWN_DEADLINE).map_err(SandboxError::Teardown)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This thread's nice value, field 19 of `/proc/thread-self/stat`.
    fn own_nice() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
        after_comm.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[test]
    fn a_teardown_in_the_background_runs_at_the_refill_priority() {
        assert_ne!(own_nice(), super::super::PREPARE_NICE, "already there");

        Teardown { live: None }.background();

        assert_eq!(own_nice(), super::super::PREPARE_NICE);
    }
}
