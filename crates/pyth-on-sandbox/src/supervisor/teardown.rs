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
