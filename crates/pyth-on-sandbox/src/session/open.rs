//! Opening a session (the sandbox prepared like a pre-started run's, the kernel pinned by a
//! pidfd, the opening record sent, the kernel's start awaited) and ending it (the kernel's
//! exit status from init's report, the teardown).

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::Opening;
use crate::cgroup::Cgroups;
use crate::error::{SandboxError, SysError};
use crate::protocol::{self, JobResult, JobSpec};
use crate::status::parse_status;
use crate::supervisor::{self, Live, Teardown};
use crate::sys;

/// How long the kernel may take to apply its opening record, and init to exit once the kernel
/// died.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// An open session: the sandbox (torn down on drop) and the supervisor's ends of its pipes.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) teardown: Teardown,
    /// pidfd of the kernel (the payload process), for SIGINT.
    pub(super) kernel: OwnedFd,
    pub(super) stdout: Option<File>,
    pub(super) stderr: Option<File>,
    /// Read end of the cell-result pipe.
    pub(super) results: File,
    /// Per-cell cap on each of stdout and stderr.
    pub(super) output_cap: usize,
    /// The sandbox's `RLIMIT_FSIZE`: a larger file write is refused before the kernel sees
    /// it (the write would raise `SIGXFSZ` in the kernel).
    pub(super) fsize_limit: u64,
    pub(super) opened: Instant,
    /// The runner's stdin (unbuffered), polled for `Interrupt` frames while a cell runs.
    pub(super) control: Option<File>,
}

/// Prepares the sandbox for `profile` with a kernel in it and starts the kernel with the
/// profile's environment.
pub(super) fn open(mut profile: JobSpec, cgroups: &dyn Cgroups) -> Result<Session, SandboxError> {
    let mut env = std::mem::take(&mut profile.env);
    let egress = profile.egress.take();
    profile.session = true;
    profile.prestart = false;
    let prepared = supervisor::prepare(&profile, cgroups)?;
    let live = prepared
        .into_live()
        .ok_or_else(|| SandboxError::InvalidJob("sandbox already used".into()))?;
    let mut teardown = Teardown::of(live);
    let Some(live) = teardown.live.as_mut() else {
        return Err(SandboxError::InvalidJob("sandbox already used".into()));
    };
    if let Some(egress) = &egress {
        // As for a run: after the clone, before any user code; its variables last, so they win.
        if let Err(e) = crate::egress::start_relay(live.init.pid, egress) {
            let _ = teardown.finish();
            return Err(e);
        }
        let proxy = crate::egress::proxy_env();
        env.retain(|v| !proxy.iter().any(|p| p.name == v.name));
        env.extend(proxy);
    }
    let Some(live) = teardown.live.as_mut() else {
        return Err(SandboxError::InvalidJob("sandbox already used".into()));
    };
    let opening = Opening {
        env: env
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_str()))
            .collect(),
    };
    let started = start(live, &opening);
    // Idle until its first cell (see `Session::set_cpu_weight`).
    let _ = live.cg.set_cpu_weight(crate::cgroup::CpuWeight::Idle);
    match started {
        Ok((kernel, stdout, stderr, results)) => Ok(Session {
            teardown,
            kernel,
            stdout: Some(stdout),
            stderr: Some(stderr),
            results,
            output_cap: usize::try_from(profile.limits.max_output_bytes).unwrap_or(usize::MAX),
            fsize_limit: profile.limits.fsize_bytes,
            opened: Instant::now(),
            control: None,
        }),
        Err(e) => {
            let _ = teardown.finish();
            Err(e)
        }
    }
}

type Started = (OwnedFd, File, File, File);

/// Pins the kernel, sends the opening record, waits for EOF on the error pipe (the kernel
/// closed it: it runs) and makes the pipes non-blocking.
fn start(live: &mut Live, opening: &Opening<'_>) -> Result<Started, SandboxError> {
    let no_pipes = || SandboxError::InvalidJob("sandbox already used".into());
    let pipes = live.init.pipes.take().ok_or_else(no_pipes)?;
    let results = live.init.cells.take().ok_or_else(no_pipes)?;
    // The kernel's stdin is at EOF (`input()` fails at once); init gets no output spec and so
    // collects and sends no files.
    drop((pipes.stdin, pipes.files, live.init.output_spec.take()));
    let kernel = find_kernel(live)?;
    let frame = protocol::encode_frame(opening)
        .map_err(|e| SandboxError::InvalidJob(format!("encoding the opening: {e}")))?;
    // EPIPE: the kernel died; the error pipe says why.
    let _ = live.init.release.write_all(&frame);
    let error = read_to_eof(File::from(pipes.error), Instant::now() + START_DEADLINE)?;
    if !error.is_empty() {
        return Err(SandboxError::ChildSetup(error));
    }
    if parse_status(&read_status(live)).exit.is_some() {
        return Err(SandboxError::ChildSetup("the session kernel exited".into()));
    }
    let (stdout, stderr) = (File::from(pipes.stdout), File::from(pipes.stderr));
    for fd in [
        stdout.as_fd(),
        stderr.as_fd(),
        results.as_fd(),
        live.init.release.as_fd(),
        live.init.status.as_fd(),
    ] {
        sys::set_nonblocking(fd)?;
    }
    Ok((kernel, stdout, stderr, results))
}

/// The pidfd of init's only child, the kernel (host pid from the run's cgroup; its parent
/// checked again once pinned, so a recycled pid is never taken).
fn find_kernel(live: &Live) -> Result<OwnedFd, SandboxError> {
    let init = live.init.pid;
    for pid in live.cg.pids()?.into_iter().filter(|p| *p != init) {
        if parent_of(pid) != Some(init) {
            continue;
        }
        let Ok(fd) = sys::pidfd_open(pid) else {
            continue;
        };
        if parent_of(pid) == Some(init) {
            return Ok(fd);
        }
    }
    Err(SandboxError::ChildSetup(
        "the session kernel was not found in its cgroup".into(),
    ))
}

/// `PPid` of a host process.
fn parent_of(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Reads `f` until EOF (at most 64 KiB kept) or the deadline.
fn read_to_eof(mut f: File, deadline: Instant) -> Result<String, SandboxError> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SandboxError::ChildSetup(
                "the session kernel did not start in time".into(),
            ));
        }
        let mut fds = [libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if sys::poll(&mut fds, left.as_millis().clamp(1, 1000) as i32)? == 0 {
            continue;
        }
        match f.read(&mut chunk) {
            Ok(0) => return Ok(String::from_utf8_lossy(&out).into_owned()),
            Ok(n) if out.len() < 64 << 10 => out.extend_from_slice(&chunk[..n]),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(SysError::from_io("read", "error pipe".into(), e).into()),
        }
    }
}

/// What the status pipe has now (non-blocking), appended to init's status text.
fn read_status(live: &mut Live) -> String {
    let mut chunk = [0u8; 1024];
    let _ = sys::set_nonblocking(live.init.status.as_fd());
    while let Ok(n) = live.init.status.read(&mut chunk) {
        if n == 0 || live.init.status_text.len() > 16 << 10 {
            break;
        }
        let text = String::from_utf8_lossy(&chunk[..n]);
        live.init.status_text.push_str(&text);
    }
    live.init.status_text.clone()
}

impl Session {
    /// The kernel died (or is being killed: `kill`): waits for init's report and exit, and
    /// builds the session's final status.
    pub(super) fn end(&mut self, kill: bool, timed_out: bool) -> JobResult {
        let opened = self.opened;
        let Some(live) = self.teardown.live.as_mut() else {
            return JobResult::default();
        };
        if kill {
            let _ = sys::pidfd_send_signal(live.init.pidfd.as_fd(), libc::SIGKILL);
        }
        let mut fds = [libc::pollfd {
            fd: live.init.pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let wait = START_DEADLINE.as_millis() as i32;
        if !matches!(sys::poll(&mut fds, wait), Ok(1..)) {
            let _ = sys::pidfd_send_signal(live.init.pidfd.as_fd(), libc::SIGKILL);
        }
        let init_exit = sys::waitpid(live.init.pid, false).ok().flatten();
        live.init.reaped = true;
        let report = parse_status(&read_status(live));
        let exit = report
            .exit
            .or(init_exit.map(|(_, e)| e))
            .unwrap_or(sys::Exit::Signal(libc::SIGKILL));
        JobResult {
            exit_code: exit.as_code(),
            signal: match exit {
                sys::Exit::Signal(s) => Some(s),
                sys::Exit::Code(_) => None,
            },
            timed_out,
            memory_exceeded: live.cg.oom_killed().unwrap_or(false),
            duration_ms: opened.elapsed().as_secs_f64() * 1000.0,
            ..JobResult::default()
        }
    }

    /// Tears the sandbox down (kill, reap, cgroup removed).
    pub(super) fn finish(self) -> Result<(), SandboxError> {
        self.teardown.finish()
    }
}
