//! The supervisor: prepares one sandbox, releases one job into it, reports what happened.
//!
//! A run has two halves, so that a warm pool can do the first one ahead of time:
//!
//! 1. [`prepare`] (nothing of any user yet): validate the profile, build the seccomp programs,
//!    create the run's cgroup with the profile's limits, create the pipes and `clone()` init
//!    into new namespaces ([`crate::child`]). Init joins the cgroup (the cgroup v1 join stall
//!    happens here), builds the root file system, forks the payload (pid 2), which drops every
//!    privilege, installs seccomp, says `ready` on the status pipe and blocks on the release
//!    pipe. [`prepare`] returns once `ready` arrived: a [`Prepared`] sandbox.
//! 2. [`Prepared::run`]: check the job against the profile, write the job's memory limit to
//!    the cgroup, send the user's part ([`Release`]: code or ZK payload, args, env, CPU limit)
//!    down the release pipe and wipe it, then pump stdin/stdout/stderr against the job's
//!    deadline ([`crate::pump`]), reap init, read the status report, tear the cgroup down.
//!
//! [`run_job`] (the cold path) does both back to back. Dropping a [`Prepared`] that never ran
//! kills it and removes its cgroup.
//!
//! The supervisor only reads through descriptors it created, never touches the run's files
//! (they live on tmpfs mounts in the run's mount namespace and vanish with it), and never
//! follows a path the run could have planted.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::cgroup::{self, CgroupLimits, Cgroups, RunCgroup};
use crate::child::{self, ChildPlan};
use crate::error::{CgroupError, SandboxError, SysError};
use crate::protocol::{self, JobResult, JobSpec, Timings};
use crate::pump::Pump;
use crate::release::Release;
use crate::status::parse_status;
use crate::zk::ZkOutcome;
use crate::{command, rootfs, seccomp, sys, warm};

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

mod teardown;
pub use teardown::Teardown;

/// How long the child may take to isolate itself and say `ready`.
const READY_DEADLINE: Duration = Duration::from_secs(10);

/// Nice value of a runner while it prepares a sandbox ahead of time (a warm pool's refill),
/// restored to 0 for the whole sandbox when the job is released.
pub const PREPARE_NICE: i32 = 10;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A sandbox isolated and waiting for its one job: cgroup created and joined, namespaces,
/// root file system, credentials and seccomp in place; the payload process blocks on a pipe.
/// Holds nothing of any user. Dropping it kills the sandbox and removes its cgroup.
#[derive(Debug)]
pub struct Prepared {
    profile: JobSpec,
    inner: Option<Live>,
    cgroup_ms: f64,
    /// clone() to `ready`.
    prepare_ms: f64,
}

/// The prepared sandbox's cgroup and child.
#[derive(Debug)]
struct Live {
    cg: Box<dyn RunCgroup>,
    init: Init,
}

/// Init's pid and pidfd and the supervisor's ends of the pipes.
#[derive(Debug)]
struct Init {
    pid: i32,
    pidfd: OwnedFd,
    release: File,
    /// stdin (write end), stdout, stderr, error (read ends); taken by the pump.
    pipes: Option<(OwnedFd, OwnedFd, OwnedFd, OwnedFd)>,
    status: File,
    status_text: String,
    /// Init was reaped (by the supervisor, once the run ended).
    reaped: bool,
}

/// Runs `spec` in a new sandbox (the cold path: [`prepare`] then [`Prepared::run`]). `Err`
/// means no trustworthy result (set-up failure); a failing user program is an `Ok` result with
/// its exit code.
///
/// Must be called from a **single-threaded** process (the `pyth-on-runner` binary): the child
/// is created with a raw `clone()` and keeps allocating, which is only sound when no other
/// thread can hold a lock at that moment. A multi-threaded caller gets an error.
pub fn run_job(
    mut spec: JobSpec,
    cgroups: &dyn Cgroups,
) -> Result<(JobResult, Teardown), SandboxError> {
    let started = Instant::now();
    check_job(&spec)?;
    let mut release = Release::take_from(&mut spec);
    let stdin = std::mem::take(&mut spec.stdin);
    // The child's copy-on-write image holds the release (ZK password included): wipe it there.
    let prepared = prepare_inner(&spec, cgroups, &mut || release.wipe())?;
    if let (Some(egress), Some(live)) = (&spec.egress, &prepared.inner) {
        // After the clone (the runner may have threads now), before the program exists.
        crate::egress::start_relay(live.init.pid, egress)?;
    }
    let limits = spec.limits.clone();
    let prepare_ms = prepared.prepare_ms;
    let (mut result, teardown) = prepared.release(&limits, release, stdin, started)?;
    // Cold: the sandbox was prepared on the request path.
    result.timings.setup_ms += prepare_ms;
    result.duration_ms += prepare_ms;
    Ok((result, teardown))
}

/// Isolates a sandbox for jobs like `profile` (which must hold no user data: empty code,
/// stdin, args, env, no zk) and waits until it is ready. Same threading rule as [`run_job`].
pub fn prepare(profile: &JobSpec, cgroups: &dyn Cgroups) -> Result<Prepared, SandboxError> {
    let has_user_data = !profile.code.is_empty()
        || !profile.stdin.is_empty()
        || !profile.args.is_empty()
        || !profile.env.is_empty()
        || profile.zk.is_some()
        || profile.egress.is_some();
    if has_user_data {
        return Err(SandboxError::InvalidJob(
            "a prepare profile must not carry code, stdin, args, env, zk or egress".into(),
        ));
    }
    prepare_inner(profile, cgroups, &mut || {})
}

fn check_job(spec: &JobSpec) -> Result<(), SandboxError> {
    if spec.zk.is_some() && !spec.code.is_empty() {
        return Err(SandboxError::InvalidJob(
            "a ZK job carries its code in the payload only".into(),
        ));
    }
    if spec.zk.is_some() && spec.prestart {
        return Err(SandboxError::InvalidJob(
            "a ZK job cannot run in a pre-started interpreter".into(),
        ));
    }
    rootfs::validate(spec)?;
    command::build(spec).map(drop)
}

fn prepare_inner(
    profile: &JobSpec,
    cgroups: &dyn Cgroups,
    wipe_in_child: &mut dyn FnMut(),
) -> Result<Prepared, SandboxError> {
    let t0 = Instant::now();
    let threads = std::fs::read_dir("/proc/self/task")
        .map(Iterator::count)
        .unwrap_or(0);
    if threads != 1 {
        return Err(SandboxError::InvalidJob(format!(
            "the sandbox needs a single-threaded process, this one has {threads} threads"
        )));
    }
    if profile.sandbox.uid == 0 || profile.sandbox.gid == 0 {
        return Err(SandboxError::InvalidJob("uid and gid must not be 0".into()));
    }
    check_job(profile)?;
    let policy = seccomp::build()?;

    let limits = CgroupLimits {
        memory_bytes: memory_bytes(profile.limits.memory_mb),
        pids_max: profile.limits.pids_max.max(2),
        cpu_quota: Some(profile.limits.cpu_quota),
    };
    let cg = cgroups.create(&profile.sandbox.cgroup_parent, &cgroup::run_name(), &limits)?;
    let cgroup_ms = ms(t0.elapsed());
    let t_clone = Instant::now();
    match spawn(profile, cg.as_ref(), policy, wipe_in_child) {
        Ok(init) => {
            let mut prepared = Prepared {
                profile: profile.clone(),
                inner: Some(Live { cg, init }),
                cgroup_ms,
                prepare_ms: 0.0,
            };
            prepared.wait_ready()?; // on error, Drop kills and tears down
            prepared.prepare_ms = ms(t_clone.elapsed());
            Ok(prepared)
        }
        Err(e) => {
            let _ = cgroup::destroy(cg.as_ref(), TEARDOWN_DEADLINE);
            Err(e)
        }
    }
}

fn memory_bytes(mb: u64) -> u64 {
    mb.max(8) << 20
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

/// Creates the pipes and clones init.
fn spawn(
    profile: &JobSpec,
    cg: &dyn RunCgroup,
    policy: seccomp::Policy,
    wipe_in_child: &mut dyn FnMut(),
) -> Result<Init, SandboxError> {
    let new_root = Path::new(NEW_ROOT_DIR);
    std::fs::create_dir_all(new_root)
        .map_err(|e| SysError::from_io("mkdir", NEW_ROOT_DIR.into(), e))?;
    let (stdin_r, stdin_w) = sys::pipe()?;
    let (stdout_r, stdout_w) = sys::pipe()?;
    let (stderr_r, stderr_w) = sys::pipe()?;
    let (error_r, error_w) = sys::pipe()?;
    let (status_r, status_w) = sys::pipe()?;
    let (release_r, release_w) = sys::pipe()?;
    let plan = ChildPlan {
        spec: profile,
        policy,
        new_root: new_root.to_owned(),
        cgroup_procs: open_procs(cg)?,
        stdin: stdin_r,
        stdout: stdout_w,
        stderr: stderr_w,
        error: error_w,
        status: status_w,
        release: File::from(release_r),
    };
    let ours = (stdin_w, stdout_r, stderr_r, error_r, status_r, release_w);
    let (pid, pidfd) = match sys::clone_child(CLONE_NAMESPACES)? {
        sys::Cloned::Child => {
            // The child must not hold the supervisor's ends: stdin would never see EOF.
            drop(ours);
            wipe_in_child();
            child::init_main(plan)
        }
        sys::Cloned::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(plan); // closes the child's ends of every pipe in the supervisor
    let (stdin, stdout, stderr, error, status, release) = ours;
    Ok(Init {
        pid,
        pidfd,
        release: File::from(release),
        pipes: Some((stdin, stdout, stderr, error)),
        status: File::from(status),
        status_text: String::new(),
        reaped: false,
    })
}

impl Prepared {
    /// The profile this sandbox was prepared for.
    pub fn profile(&self) -> &JobSpec {
        &self.profile
    }

    /// Reads the status pipe until the payload says `ready`; on EOF, the set-up error.
    fn wait_ready(&mut self) -> Result<(), SandboxError> {
        let Some(Live { init: live, .. }) = self.inner.as_mut() else {
            return Err(SandboxError::InvalidJob("sandbox already used".into()));
        };
        let deadline = Instant::now() + READY_DEADLINE;
        let mut chunk = [0u8; 1024];
        loop {
            if parse_status(&live.status_text).ready {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SandboxError::ChildSetup(
                    "the sandbox did not become ready in time".into(),
                ));
            }
            let mut fds = [libc::pollfd {
                fd: live.status.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            if sys::poll(&mut fds, left.as_millis().clamp(1, 1000) as i32)? == 0 {
                continue;
            }
            let n = live
                .status
                .read(&mut chunk)
                .map_err(|e| SysError::from_io("read", "status pipe".into(), e))?;
            if n == 0 {
                let mut error = String::new();
                if let Some((_, _, _, fd)) = live.pipes.take() {
                    let _ = File::from(fd).read_to_string(&mut error);
                }
                return Err(SandboxError::ChildSetup(if error.is_empty() {
                    "the sandbox exited before it was ready".into()
                } else {
                    error
                }));
            }
            live.status_text
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    }

    /// Runs `spec` in this sandbox. The job must match the profile except for code, zk,
    /// stdin, args, env, `timeout_ms`, `memory_mb` and `max_output_bytes`.
    pub fn run(self, mut spec: JobSpec) -> Result<(JobResult, Teardown), SandboxError> {
        let started = Instant::now();
        check_job(&spec)?;
        let release = Release::take_from(&mut spec);
        let stdin = std::mem::take(&mut spec.stdin);
        let limits = spec.limits.clone();
        if self.profile.prestart && limits.timeout_ms > self.profile.limits.timeout_ms {
            // The interpreter's RLIMIT_CPU was set from the profile and can only be lowered.
            return Err(SandboxError::InvalidJob(
                "a pre-started interpreter cannot take a longer timeout than its profile".into(),
            ));
        }
        spec.limits.timeout_ms = self.profile.limits.timeout_ms;
        spec.limits.memory_mb = self.profile.limits.memory_mb;
        spec.limits.max_output_bytes = self.profile.limits.max_output_bytes;
        if spec != self.profile {
            return Err(SandboxError::InvalidJob(
                "the job does not match the profile of the prepared sandbox".into(),
            ));
        }
        self.release(&limits, release, stdin, started)
    }

    fn release(
        mut self,
        limits: &protocol::Limits,
        mut release: Release,
        stdin: String,
        started: Instant,
    ) -> Result<(JobResult, Teardown), SandboxError> {
        let Some(mut live) = self.inner.take() else {
            return Err(SandboxError::InvalidJob("sandbox already used".into()));
        };
        let is_zk = release.zk.is_some();
        let outcome = (|| {
            if limits.memory_mb != self.profile.limits.memory_mb {
                live.cg.set_memory(memory_bytes(limits.memory_mb))?;
            }
            // Prepared at PREPARE_NICE; the job runs at the normal priority (the payload
            // cannot lower its own nice value: that needs CAP_SYS_NICE).
            let _ = sys::set_nice(0, 0);
            for pid in live.cg.pids().unwrap_or_default() {
                let _ = sys::set_nice(pid, 0);
            }

            release.timeout_ms = limits.timeout_ms;
            let frame = Zeroizing::new(if self.profile.prestart {
                warm::encode_release(&release)?
            } else {
                protocol::encode_frame(&release)
                    .map_err(|e| SandboxError::InvalidJob(format!("encoding the release: {e}")))?
            });
            release.wipe();
            let t_release = Instant::now();
            // If the payload died meanwhile the write fails (EPIPE); the pump then finds init
            // gone and the error pipe tells why.
            let _ = live.init.release.write_all(&frame);
            drop(frame);
            self.supervise(
                &mut live.init,
                live.cg.as_ref(),
                limits,
                stdin,
                t_release,
                is_zk,
            )
        })();
        drop(release);
        match outcome {
            Ok(mut result) => {
                result.timings.cgroup_ms = self.cgroup_ms;
                result.timings.prepare_ms = self.prepare_ms;
                result.timings.total_ms = ms(started.elapsed());
                Ok((result, Teardown { live: Some(live) }))
            }
            Err(e) => {
                // No result to hurry: tear down before reporting the failure.
                let _ = (Teardown { live: Some(live) }).finish();
                Err(e)
            }
        }
    }

    fn supervise(
        &self,
        live: &mut Init,
        cg: &dyn RunCgroup,
        limits: &protocol::Limits,
        stdin: String,
        t_release: Instant,
        is_zk: bool,
    ) -> Result<JobResult, SandboxError> {
        let deadline = t_release + Duration::from_millis(limits.timeout_ms);
        let Some((stdin_w, stdout_r, stderr_r, error_r)) = live.pipes.take() else {
            return Err(SandboxError::InvalidJob("sandbox already used".into()));
        };
        let status_r = live
            .status
            .try_clone()
            .map_err(|e| SysError::from_io("dup", "status pipe".into(), e))?;
        let pumped = Pump::new(
            stdin.as_bytes(),
            limits.max_output_bytes,
            stdin_w,
            stdout_r,
            stderr_r,
            error_r,
            OwnedFd::from(status_r),
        )
        .and_then(|mut pump| pump.run(&live.pidfd, deadline).map(|()| pump));
        let pump = match pumped {
            Ok(pump) => pump,
            Err(e) => {
                // Never leave a live sandbox behind an error: kill init (and so the namespace).
                let _ = sys::pidfd_send_signal(live.pidfd.as_fd(), libc::SIGKILL);
                let _ = sys::waitpid(live.pid, false);
                live.reaped = true;
                return Err(e.into());
            }
        };
        live.status_text.push_str(&pump.status);
        let exit = if pump.payload_reported {
            // Init reported the payload's exit and is exiting; the teardown reaps it.
            None
        } else {
            let exit = sys::waitpid(live.pid, false)?.map(|(_, e)| e);
            live.reaped = true;
            let mut rest = String::new();
            let _ = live.status.read_to_string(&mut rest);
            live.status_text.push_str(&rest);
            Some(exit.unwrap_or(sys::Exit::Signal(9)))
        };
        let t_reaped = Instant::now();

        if !pump.error.is_empty() {
            return Err(SandboxError::ChildSetup(
                String::from_utf8_lossy(&pump.error).into_owned(),
            ));
        }
        let report = parse_status(&live.status_text);
        let payload = report
            .exit
            .or(exit)
            .unwrap_or(sys::Exit::Signal(libc::SIGKILL));
        let exec_at = pump.exec_at.unwrap_or(t_reaped);
        let zk = if is_zk { report.zk } else { None };
        let nothing_ran = zk.is_some_and(|z| z != ZkOutcome::Decrypted);
        let text = |b: &[u8]| {
            if nothing_ran {
                String::new()
            } else {
                String::from_utf8_lossy(b).into_owned()
            }
        };
        Ok(JobResult {
            stdout: text(&pump.stdout.buf),
            stderr: text(&pump.stderr.buf),
            exit_code: payload.as_code(),
            signal: match payload {
                sys::Exit::Signal(s) => Some(s),
                sys::Exit::Code(_) => None,
            },
            timed_out: pump.timed_out,
            memory_exceeded: cg.oom_killed().unwrap_or(false),
            output_truncated: pump.truncated,
            duration_ms: ms(t_reaped - t_release),
            timings: Timings {
                setup_ms: ms(exec_at.saturating_duration_since(t_release)),
                run_ms: ms(t_reaped.saturating_duration_since(exec_at)),
                join_ms: report.join_ms,
                rootfs_ms: report.rootfs_ms,
                privileges_ms: report.privileges_ms,
                ..Timings::default()
            },
            zk,
            files: Vec::new(),
            files_truncated: false,
        })
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Some(live) = self.inner.take() {
            let _ = teardown::teardown(live);
        }
    }
}
