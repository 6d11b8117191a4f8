//! The supervisor: runs one job in a fresh sandbox and reports what happened.
//!
//! Order of events (all times measured, see [`Timings`]):
//!
//! 1. validate the job, build argv/env and the seccomp programs (pure);
//! 2. create the run's cgroup and write the limits; open its `cgroup.procs` files;
//! 3. create the pipes (stdin, stdout, stderr, error, status) and `clone()` init into new
//!    namespaces ([`crate::child`]);
//! 4. pump: feed stdin, read stdout/stderr up to the byte cap, watch the error pipe (EOF = the
//!    interpreter was exec'd) and init's pidfd, enforce the wall-clock deadline. Any limit hit
//!    SIGKILLs init through its pidfd, which makes the kernel kill the whole PID namespace;
//! 5. reap init, read the payload's status, read OOM events;
//! 6. teardown: SIGKILL whatever is still in the cgroup until it is empty, remove it.
//!
//! The supervisor only reads through descriptors it created, never touches the run's files
//! (they live on tmpfs mounts in the run's mount namespace and vanish with it), and never
//! follows a path the run could have planted.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cgroup::{self, CgroupLimits, Cgroups, RunCgroup};
use crate::child::{self, ChildPlan};
use crate::error::{CgroupError, SandboxError, SysError};
use crate::protocol::{JobResult, JobSpec, Timings};
use crate::{command, rootfs, seccomp, sys};

/// Host directory on which each run's root tmpfs is mounted (inside the run's own mount
/// namespace; on the host it stays an empty directory).
pub const NEW_ROOT_DIR: &str = "/run/pyth-on/root";

/// Namespaces created by `clone()`. The cgroup namespace is entered by init after it joined
/// the run's cgroup, so that group becomes its cgroup root.
const CLONE_NAMESPACES: libc::c_int = libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS;

/// How long teardown may take before it is reported as failed.
const TEARDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// After a kill, how long we keep draining before giving up on the pipes.
const KILL_GRACE: Duration = Duration::from_secs(2);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One captured output stream.
#[derive(Debug)]
struct Capture {
    fd: Option<File>,
    buf: Vec<u8>,
    cap: usize,
}

impl Capture {
    /// Reads what is available; returns `true` if the cap was passed.
    fn pump(&mut self) -> Result<bool, SysError> {
        let Some(f) = self.fd.as_mut() else {
            return Ok(false);
        };
        let mut chunk = [0u8; 65536];
        loop {
            match f.read(&mut chunk) {
                Ok(0) => {
                    self.fd = None;
                    return Ok(false);
                }
                Ok(n) => {
                    let room = self.cap.saturating_sub(self.buf.len());
                    self.buf.extend_from_slice(&chunk[..n.min(room)]);
                    if n > room {
                        self.fd = None;
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(SysError::from_io("read", "output pipe".into(), e)),
            }
        }
    }
}

/// Runs `spec` in a new sandbox. `Err` means no trustworthy result (set-up failure); a failing
/// user program is an `Ok` result with its exit code.
///
/// Must be called from a **single-threaded** process (the `pyth-on-runner` binary): the child
/// is created with a raw `clone()` and keeps allocating, which is only sound when no other
/// thread can hold a lock at that moment. A multi-threaded caller gets an error.
pub fn run_job(spec: &JobSpec, cgroups: &dyn Cgroups) -> Result<JobResult, SandboxError> {
    let t0 = Instant::now();
    let threads = std::fs::read_dir("/proc/self/task")
        .map(Iterator::count)
        .unwrap_or(0);
    if threads != 1 {
        return Err(SandboxError::InvalidJob(format!(
            "run_job needs a single-threaded process, this one has {threads} threads"
        )));
    }
    if spec.sandbox.uid == 0 || spec.sandbox.gid == 0 {
        return Err(SandboxError::InvalidJob("uid and gid must not be 0".into()));
    }
    rootfs::validate(spec)?;
    let command = command::build(spec)?;
    let policy = seccomp::build()?;

    let limits = CgroupLimits {
        memory_bytes: spec.limits.memory_mb.max(8) << 20,
        pids_max: spec.limits.pids_max.max(2),
        cpu_quota: Some(spec.limits.cpu_quota),
    };
    let cg = cgroups.create(&spec.sandbox.cgroup_parent, &cgroup::run_name(), &limits)?;
    let t_cg = Instant::now();

    let outcome = supervise(spec, cg.as_ref(), command, policy);
    let t_exit = Instant::now();
    let teardown = cgroup::destroy(cg.as_ref(), TEARDOWN_DEADLINE);
    let t_end = Instant::now();

    let mut result = outcome?;
    if let Err(e) = teardown {
        return Err(SandboxError::Teardown(e));
    }
    result.timings.cgroup_ms = ms(t_cg - t0);
    result.timings.teardown_ms = ms(t_end - t_exit);
    result.timings.total_ms = ms(t_end - t0);
    Ok(result)
}

fn open_procs(cg: &dyn RunCgroup) -> Result<Vec<File>, CgroupError> {
    cg.procs_files()
        .into_iter()
        .map(|p| {
            OpenOptions::new()
                .write(true)
                .open(&p)
                .map_err(|e| CgroupError::io("open", p, e))
        })
        .collect()
}

fn supervise(
    spec: &JobSpec,
    cg: &dyn RunCgroup,
    command: command::Command,
    policy: seccomp::Policy,
) -> Result<JobResult, SandboxError> {
    let new_root = Path::new(NEW_ROOT_DIR);
    std::fs::create_dir_all(new_root)
        .map_err(|e| SysError::from_io("mkdir", NEW_ROOT_DIR.into(), e))?;
    let (stdin_r, stdin_w) = sys::pipe()?;
    let (stdout_r, stdout_w) = sys::pipe()?;
    let (stderr_r, stderr_w) = sys::pipe()?;
    let (error_r, error_w) = sys::pipe()?;
    let (status_r, status_w) = sys::pipe()?;
    let plan = ChildPlan {
        spec,
        command,
        policy,
        new_root: new_root.to_owned(),
        cgroup_procs: open_procs(cg)?,
        stdin: stdin_r,
        stdout: stdout_w,
        stderr: stderr_w,
        error: error_w,
        status: status_w,
    };

    let ours = (stdin_w, stdout_r, stderr_r, error_r, status_r);

    let t_clone = Instant::now();
    let (pid, pidfd) = match sys::clone_child(CLONE_NAMESPACES)? {
        sys::Cloned::Child => {
            // The child must not hold the supervisor's ends: stdin would never see EOF.
            drop(ours);
            child::init_main(plan)
        }
        sys::Cloned::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(plan); // closes the child's ends of every pipe in the supervisor
    let (stdin_w, stdout_r, stderr_r, error_r, status_r) = ours;

    let deadline = t_clone + Duration::from_millis(spec.limits.timeout_ms);
    let pumped = Pump::new(spec, stdin_w, stdout_r, stderr_r, error_r)
        .and_then(|mut pump| pump.run(&pidfd, deadline).map(|()| pump));
    let pump = match pumped {
        Ok(pump) => pump,
        Err(e) => {
            // Never leave a live sandbox behind an error: kill init (and so the namespace).
            let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
            let _ = sys::waitpid(pid, false);
            return Err(e.into());
        }
    };

    let exit = sys::waitpid(pid, false)?
        .map(|(_, e)| e)
        .unwrap_or(sys::Exit::Signal(9));
    let t_reaped = Instant::now();
    let mut status = String::new();
    let _ = File::from(status_r).read_to_string(&mut status);

    if !pump.error.is_empty() {
        return Err(SandboxError::ChildSetup(
            String::from_utf8_lossy(&pump.error).into_owned(),
        ));
    }
    let report = parse_status(&status);
    let payload = report.exit.unwrap_or(exit);
    let memory_exceeded = cg.oom_killed().unwrap_or(false);
    let exec_at = pump.exec_at.unwrap_or(t_reaped);
    Ok(JobResult {
        stdout: String::from_utf8_lossy(&pump.stdout.buf).into_owned(),
        stderr: String::from_utf8_lossy(&pump.stderr.buf).into_owned(),
        exit_code: payload.as_code(),
        signal: match payload {
            sys::Exit::Signal(s) => Some(s),
            sys::Exit::Code(_) => None,
        },
        timed_out: pump.timed_out,
        memory_exceeded,
        output_truncated: pump.truncated,
        duration_ms: ms(t_reaped - t_clone),
        timings: Timings {
            setup_ms: ms(exec_at - t_clone),
            run_ms: ms(t_reaped.saturating_duration_since(exec_at)),
            join_ms: report.join_ms,
            rootfs_ms: report.rootfs_ms,
            privileges_ms: report.privileges_ms,
            ..Timings::default()
        },
    })
}

/// What the sandbox wrote to the status pipe: `key value` lines (timings from init and the
/// payload, then init's `code N` / `signal N` for the payload's exit).
#[derive(Debug, Default, PartialEq)]
struct StatusReport {
    exit: Option<sys::Exit>,
    join_ms: f64,
    rootfs_ms: f64,
    privileges_ms: f64,
}

fn parse_status(s: &str) -> StatusReport {
    let mut r = StatusReport::default();
    for line in s.lines() {
        let Some((key, value)) = line.split_once(' ') else {
            continue;
        };
        let num = value.trim().parse::<f64>().ok();
        match (key, num) {
            ("code", Some(n)) => r.exit = Some(sys::Exit::Code(n as i32)),
            ("signal", Some(n)) => r.exit = Some(sys::Exit::Signal(n as i32)),
            ("join_ms", Some(n)) => r.join_ms = n,
            ("rootfs_ms", Some(n)) => r.rootfs_ms = n,
            ("privileges_ms", Some(n)) => r.privileges_ms = n,
            _ => {}
        }
    }
    r
}

/// The I/O loop of one run.
#[derive(Debug)]
struct Pump<'a> {
    stdin_data: &'a [u8],
    stdin: Option<File>,
    stdout: Capture,
    stderr: Capture,
    error_fd: Option<File>,
    error: Vec<u8>,
    exec_at: Option<Instant>,
    timed_out: bool,
    truncated: bool,
}

impl<'a> Pump<'a> {
    fn new(
        spec: &'a JobSpec,
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
        error: OwnedFd,
    ) -> Result<Self, SysError> {
        for fd in [&stdin, &stdout, &stderr, &error] {
            sys::set_nonblocking(fd.as_fd())?;
        }
        let cap = usize::try_from(spec.limits.max_output_bytes).unwrap_or(usize::MAX);
        let data = spec.stdin.as_bytes();
        Ok(Self {
            stdin_data: data,
            stdin: (!data.is_empty()).then(|| File::from(stdin)),
            stdout: Capture {
                fd: Some(File::from(stdout)),
                buf: Vec::new(),
                cap,
            },
            stderr: Capture {
                fd: Some(File::from(stderr)),
                buf: Vec::new(),
                cap,
            },
            error_fd: Some(File::from(error)),
            error: Vec::new(),
            exec_at: None,
            timed_out: false,
            truncated: false,
        })
    }

    fn feed_stdin(&mut self) {
        let Some(f) = self.stdin.as_mut() else { return };
        while !self.stdin_data.is_empty() {
            match f.write(self.stdin_data) {
                Ok(n) => self.stdin_data = &self.stdin_data[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break, // EPIPE: the program closed stdin; fine
            }
        }
        self.stdin = None;
    }

    fn read_error(&mut self) {
        let Some(f) = self.error_fd.as_mut() else {
            return;
        };
        let mut chunk = [0u8; 4096];
        loop {
            match f.read(&mut chunk) {
                Ok(0) => {
                    self.error_fd = None;
                    self.exec_at.get_or_insert_with(Instant::now);
                    return;
                }
                Ok(n) if self.error.len() < 64 << 10 => self.error.extend_from_slice(&chunk[..n]),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    fn run(&mut self, pidfd: &OwnedFd, deadline: Instant) -> Result<(), SysError> {
        let mut killed_at: Option<Instant> = None;
        let mut init_exited = false;
        loop {
            self.feed_stdin();
            let over_cap = self.stdout.pump()? | self.stderr.pump()?;
            self.read_error();
            if over_cap && !self.truncated {
                self.truncated = true;
                kill(pidfd, &mut killed_at)?;
            }
            let now = Instant::now();
            if now >= deadline && killed_at.is_none() && !init_exited {
                self.timed_out = true;
                kill(pidfd, &mut killed_at)?;
            }
            let streams_done = self.stdout.fd.is_none() && self.stderr.fd.is_none();
            if init_exited && (streams_done || killed_at.is_some_and(|k| k.elapsed() > KILL_GRACE))
            {
                return Ok(());
            }
            if init_exited {
                // The namespace is gone; the pipes must be at EOF or hold final bytes.
                if streams_done || self.drained_after_exit() {
                    return Ok(());
                }
            }
            let mut fds: Vec<libc::pollfd> = Vec::with_capacity(5);
            let mut add = |fd: i32, events: i16| {
                fds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                })
            };
            for f in [&self.stdout.fd, &self.stderr.fd, &self.error_fd]
                .into_iter()
                .flatten()
            {
                add(f.as_raw_fd(), libc::POLLIN);
            }
            if let Some(f) = &self.stdin {
                add(f.as_raw_fd(), libc::POLLOUT);
            }
            if !init_exited {
                add(pidfd.as_raw_fd(), libc::POLLIN);
            }
            let wait = if killed_at.is_some() || init_exited {
                50
            } else {
                deadline
                    .saturating_duration_since(now)
                    .as_millis()
                    .clamp(1, 1000) as i32
            };
            sys::poll(&mut fds, wait)?;
            if let Some(p) = fds.iter().find(|p| p.fd == pidfd.as_raw_fd()) {
                if p.revents != 0 {
                    init_exited = true;
                }
            }
        }
    }

    /// After init exited every writer is dead, so a read that would block means EOF is near;
    /// we read once more and treat the streams as finished.
    fn drained_after_exit(&mut self) -> bool {
        let _ = self.stdout.pump();
        let _ = self.stderr.pump();
        self.read_error();
        self.stdout.fd.is_none() && self.stderr.fd.is_none()
    }
}

fn kill(pidfd: &OwnedFd, killed_at: &mut Option<Instant>) -> Result<(), SysError> {
    if killed_at.is_none() {
        match sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL) {
            Ok(()) => {}
            Err(e) if e.errno() == Some(libc::ESRCH) => {}
            Err(e) => return Err(e),
        }
        *killed_at = Some(Instant::now());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_status_reports_are_parsed() {
        let r = parse_status("join_ms 0.5\nrootfs_ms 1.25\nprivileges_ms 0.3\ncode 3\n");
        assert_eq!(r.exit, Some(sys::Exit::Code(3)));
        assert_eq!((r.join_ms, r.rootfs_ms, r.privileges_ms), (0.5, 1.25, 0.3));
        assert_eq!(parse_status("signal 9\n").exit, Some(sys::Exit::Signal(9)));
        assert_eq!(parse_status(""), StatusReport::default());
        assert_eq!(parse_status("weird 1\ncode x\n").exit, None);
    }

    #[test]
    fn a_capture_keeps_at_most_its_cap() {
        let (r, w) = sys::pipe().unwrap();
        sys::set_nonblocking(r.as_fd()).unwrap();
        File::from(w).write_all(b"0123456789").unwrap();
        let mut c = Capture {
            fd: Some(File::from(r)),
            buf: Vec::new(),
            cap: 4,
        };
        assert!(c.pump().unwrap());
        assert_eq!(c.buf, b"0123");
    }
}
