//! A runner process, exec'd by the launcher (a tokio [`Child`]) or forked by the spawner
//! ([`crate::spawner`]: a child of this process that tokio does not know): waited for, killed
//! and reaped the same way.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use pyth_on_sandbox::spawner;
use tokio::io::unix::AsyncFd;
use tokio::process::Child;

/// A runner process; killed (and reaped) when dropped while still running.
#[derive(Debug)]
pub(crate) enum Process {
    /// Exec'd by the launcher (`kill_on_drop`).
    Exec(Child),
    /// Forked by the spawner.
    Forked(Forked),
}

/// A runner the spawner forked: its pid and pidfd (readable once it has exited), and its exit
/// status once reaped.
#[derive(Debug)]
pub(crate) struct Forked {
    pid: i32,
    pidfd: Option<AsyncFd<OwnedFd>>,
    status: Option<ExitStatus>,
}

/// Spawns `cmd`, the runner binary (a runner, the runner spawner or the fork server), on every
/// CPU of the server, whatever the calling thread's control CPUs: it and everything it forks
/// (runners, sandboxes, payloads) inherit them (`pyth_on_sandbox::cpus`).
pub(crate) fn spawn_runner(cmd: &mut tokio::process::Command) -> std::io::Result<Child> {
    pyth_on_sandbox::cpus::on_process_cpus(|| cmd.spawn())
}

/// `fd` registered with the runtime's reactor, to await its readiness.
#[expect(
    deprecated,
    reason = "`AsyncFd::new` is deprecated for types whose descriptor may change or close \
              under it; an `OwnedFd` owned by the `AsyncFd` cannot, and the safe crates \
              may not call the `unsafe` replacement"
)]
pub(crate) fn watch(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    AsyncFd::new(fd)
}

impl Forked {
    /// Takes charge of the runner `pid` (this process's child) through its `pidfd`: waited
    /// for, killed if dropped while running, reaped. If its pidfd cannot be watched it is
    /// killed and reaped at once.
    pub(crate) fn adopt(pid: i32, pidfd: OwnedFd) -> Result<Self, String> {
        match watch(pidfd) {
            Ok(pidfd) => Ok(Self {
                pid,
                pidfd: Some(pidfd),
                status: None,
            }),
            Err(e) => {
                // Unreaped, so the pid is still this runner's.
                let _ = spawner::kill_child(pid);
                let _ = spawner::reap(pid, false);
                Err(format!("watching runner {pid}: {e}"))
            }
        }
    }

    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.status {
                return Ok(status);
            }
            let pidfd = self.pidfd.as_ref().ok_or(std::io::ErrorKind::NotFound)?;
            let mut ready = pidfd.readable().await?;
            match spawner::reap(self.pid, true).map_err(std::io::Error::other)? {
                Some(raw) => self.status = Some(ExitStatus::from_raw(raw)),
                None => ready.clear_ready(),
            }
        }
    }

    fn start_kill(&self) {
        if let (None, Some(pidfd)) = (self.status, &self.pidfd) {
            let _ = spawner::kill(pidfd.get_ref().as_fd());
        }
    }
}

impl Drop for Forked {
    /// Still running: SIGKILL, then reaped in the background (at once outside a runtime).
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        self.start_kill();
        let (pid, pidfd) = (self.pid, self.pidfd.take());
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(async move {
                if let Some(pidfd) = &pidfd {
                    let _ = pidfd.readable().await;
                }
                let _ = spawner::reap(pid, false);
            });
        } else {
            let _ = spawner::reap(pid, false);
        }
    }
}

impl Process {
    /// The host pid.
    pub(crate) fn id(&self) -> u32 {
        match self {
            Process::Exec(child) => child.id().unwrap_or(0),
            Process::Forked(f) => u32::try_from(f.pid).unwrap_or(0),
        }
    }

    /// Waits for the exit (and reaps).
    pub(crate) async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        match self {
            Process::Exec(child) => child.wait().await,
            Process::Forked(f) => f.wait().await,
        }
    }

    /// Sends SIGKILL without waiting.
    pub(crate) fn start_kill(&mut self) {
        match self {
            Process::Exec(child) => {
                let _ = child.start_kill();
            }
            Process::Forked(f) => f.start_kill(),
        }
    }

    /// Sends SIGKILL and waits for the exit.
    pub(crate) async fn kill(&mut self) {
        self.start_kill();
        let _ = self.wait().await;
    }
}
