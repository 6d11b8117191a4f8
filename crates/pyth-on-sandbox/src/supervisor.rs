//! The supervisor: prepares one sandbox, releases one job into it, reports what happened.
//!
//! A run has two halves, so that a warm pool can do the first one ahead of time:
//!
//! 1. [`prepare`] (nothing of any user yet): validate the profile, build the seccomp program,
//!    create the run's cgroup with the profile's limits, create the pipes and `clone()` init
//!    into new namespaces ([`crate::child`]). Init joins the cgroup (the cgroup v1 join stall
//!    happens here), builds the root file system, forks the payload (pid 2), which drops every
//!    privilege, installs seccomp, says `ready` on the status pipe and blocks on the release
//!    pipe. [`prepare`] returns once `ready` arrived: a [`Prepared`] sandbox.
//! 2. [`Prepared::run`]: check the job against the profile, write the job's memory limit to
//!    the cgroup, write the job's output spec to init's spec pipe and close it, send the
//!    user's part ([`Release`]: code or ZK payload, args, env, input files, CPU limit) down
//!    the release pipe and wipe it, then pump stdin/stdout/stderr and the files pipe against
//!    the job's deadline (`pump.rs`; with `stream`, each chunk of output goes to the
//!    caller's sink as it is read), reap init, read the status report, tear the cgroup down.
//!
//! [`run_job`] (the cold path) does both back to back. Dropping a [`Prepared`] that never ran
//! kills it and removes its cgroup.
//!
//! The supervisor only reads through descriptors it created, never touches the run's files
//! (they live on tmpfs mounts in the run's mount namespace and vanish with it; output files
//! are read by the run's init, see [`crate::files::collect`]), and never follows a path the
//! run could have planted.

use std::io::Write;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::cgroup::{self, CgroupLimits, Cgroups, RunCgroup};
use crate::error::{CgroupError, SandboxError};
use crate::files::{collect, OutputSpec};
use crate::protocol::{self, JobResult, JobSpec, SandboxOptions};
use crate::pump::OutputSink;
use crate::release::Release;
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

mod outcome;
mod spawn;
mod teardown;
use outcome::Attended;
pub(crate) use spawn::Init;
pub use teardown::Teardown;

/// How long the child may take to isolate itself and say `ready`.
const READY_DEADLINE: Duration = Duration::from_secs(10);

pub use crate::priority::PREPARE_NICE;

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
pub(crate) struct Live {
    pub(crate) cg: Box<dyn RunCgroup>,
    pub(crate) init: Init,
}

/// The user's part of a job, out of its spec: what the payload gets ([`Release`]) and what
/// the supervisor keeps (stdin, the output spec, `stream`).
struct UserPart {
    release: Release,
    stdin: String,
    output: Option<OutputSpec>,
    stream: bool,
}

impl UserPart {
    /// Moves the user's part out of `spec`, which is left a profile.
    fn take_from(spec: &mut JobSpec) -> Self {
        UserPart {
            release: Release::take_from(spec),
            stdin: std::mem::take(&mut spec.stdin),
            output: spec.output.take(),
            stream: std::mem::take(&mut spec.stream),
        }
    }
}

/// Runs `spec` in a new sandbox (the cold path: [`prepare`] then [`Prepared::run`]). `Err`
/// means no trustworthy result (set-up failure); a failing user program is an `Ok` result with
/// its exit code.
///
/// With [`JobSpec::stream`], each chunk of output goes to `sink` as it is read.
///
/// Must be called from a **single-threaded** process (the `pyth-on-runner` binary): the child
/// is created with a raw `clone()` and keeps allocating, which is only sound when no other
/// thread can hold a lock at that moment. A multi-threaded caller gets an error.
pub fn run_job(
    mut spec: JobSpec,
    cgroups: &dyn Cgroups,
    sink: Option<&mut OutputSink<'_>>,
) -> Result<(JobResult, Teardown), SandboxError> {
    let started = Instant::now();
    if spec.session {
        return Err(SandboxError::InvalidJob(
            "a job cannot run a session kernel (a Session frame opens one)".into(),
        ));
    }
    check_job(&spec)?;
    let mut job = UserPart::take_from(&mut spec);
    // The child's copy-on-write image holds the release (ZK password included): wipe it there.
    let prepared = prepare_inner(&spec, cgroups, &mut || job.release.wipe())?;
    if let (Some(egress), Some(live)) = (&spec.egress, &prepared.inner) {
        // After the clone (the runner may have threads now), before the program exists.
        crate::egress::start_relay(live.init.pid, egress)?;
    }
    let limits = spec.limits.clone();
    let prepare_ms = prepared.prepare_ms;
    let (mut result, teardown) = prepared.release(&limits, job, sink, started)?;
    // Cold: the sandbox was prepared on the request path.
    result.timings.setup_ms += prepare_ms;
    result.duration_ms += prepare_ms;
    Ok((result, teardown))
}

/// Isolates a sandbox for jobs like `profile` (which must hold no user data: empty code,
/// stdin, args, env, files, no zk, egress, output spec or `stream`) and waits until it is
/// ready. Same threading rule as [`run_job`].
pub fn prepare(profile: &JobSpec, cgroups: &dyn Cgroups) -> Result<Prepared, SandboxError> {
    let has_user_data = !profile.code.is_empty()
        || !profile.stdin.is_empty()
        || !profile.args.is_empty()
        || !profile.env.is_empty()
        || !profile.files.is_empty()
        || profile.zk.is_some()
        || profile.egress.is_some()
        || profile.output.is_some()
        || profile.stream;
    if has_user_data {
        return Err(SandboxError::InvalidJob(
            "a prepare profile must not carry code, stdin, args, env, files, zk, egress, an \
             output spec or stream"
                .into(),
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
    if !spec.files.is_empty() && spec.prestart {
        return Err(SandboxError::InvalidJob(
            "a job with input files cannot run in a pre-started interpreter".into(),
        ));
    }
    if spec.netns.is_some() && (spec.egress.is_some() || spec.session) {
        return Err(SandboxError::InvalidJob(
            "a leased network namespace is for runs without egress only (no session)".into(),
        ));
    }
    if spec.fork_server.is_some()
        && (spec.language != protocol::Language::Python || !spec.prestart || spec.session)
    {
        return Err(SandboxError::InvalidJob(
            "a fork server serves pre-started Python runs only (no session)".into(),
        ));
    }
    if let Some(server) = spec.fork_server.as_ref() {
        if server.interpreter != spec.interpreter {
            return Err(SandboxError::InvalidJob(format!(
                "the fork server runs {}, the job wants {}",
                server.interpreter.display(),
                spec.interpreter.display()
            )));
        }
    }
    if let Some(output) = &spec.output {
        output
            .check()
            .map_err(|e| SandboxError::InvalidJob(e.to_string()))?;
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
    let cg = open_cgroup(cgroups, &profile.sandbox, &limits)?;
    let cgroup_ms = ms(t0.elapsed());
    let t_clone = Instant::now();
    match spawn::spawn(profile, cg.as_ref(), policy, wipe_in_child) {
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

/// The run's cgroup: the kept one leased to it, else (or when that one cannot be had: still
/// holding a killed run's last processes, or any other failure) one of its own, removed
/// after it. Before making one of those, the groups that SIGKILLed runners left behind
/// (empty, their runner pid gone) are removed.
fn open_cgroup(
    cgroups: &dyn Cgroups,
    sandbox: &SandboxOptions,
    limits: &CgroupLimits,
) -> Result<Box<dyn RunCgroup>, CgroupError> {
    let parent = &sandbox.cgroup_parent;
    if let Some(kept) = &sandbox.kept_cgroup {
        if let Ok(kept) = cgroups.open_kept(parent, kept, limits) {
            return Ok(kept);
        }
    }
    let _ = cgroups.remove_stale(parent);
    cgroups.create(parent, &cgroup::run_name(), limits)
}

pub(crate) fn memory_bytes(mb: u64) -> u64 {
    mb.max(8) << 20
}

impl Prepared {
    /// The profile this sandbox was prepared for.
    pub fn profile(&self) -> &JobSpec {
        &self.profile
    }

    /// The live sandbox, taken out for a session ([`crate::session`]), which drives it and
    /// tears it down itself ([`Teardown::of`]).
    pub(crate) fn into_live(mut self) -> Option<Live> {
        self.inner.take()
    }

    /// Waits until the payload says `ready`; on EOF, the set-up error.
    fn wait_ready(&mut self) -> Result<(), SandboxError> {
        match self.inner.as_mut() {
            Some(live) => live.init.wait_ready(&self.profile),
            None => Err(SandboxError::InvalidJob("sandbox already used".into())),
        }
    }

    /// Runs `spec` in this sandbox. The job must match the profile except for code, zk,
    /// stdin, args, env, files, output spec, `stream`, `timeout_ms`, `memory_mb` and
    /// `max_output_bytes`. With [`JobSpec::stream`], each chunk of output goes to `sink`.
    pub fn run(
        self,
        mut spec: JobSpec,
        sink: Option<&mut OutputSink<'_>>,
    ) -> Result<(JobResult, Teardown), SandboxError> {
        let started = Instant::now();
        check_job(&spec)?;
        let job = UserPart::take_from(&mut spec);
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
        self.release(&limits, job, sink, started)
    }

    fn release(
        mut self,
        limits: &protocol::Limits,
        job: UserPart,
        sink: Option<&mut OutputSink<'_>>,
        started: Instant,
    ) -> Result<(JobResult, Teardown), SandboxError> {
        let Some(mut live) = self.inner.take() else {
            return Err(SandboxError::InvalidJob("sandbox already used".into()));
        };
        let UserPart {
            mut release,
            stdin,
            output,
            stream,
        } = job;
        let is_zk = release.zk.is_some();
        let outcome = self
            .hand_over(&mut live, limits, &mut release, output.as_ref())
            .and_then(|t_release| {
                let attended = Attended {
                    stdin,
                    output,
                    sink: sink.filter(|_| stream).map(|s| s as &mut OutputSink<'_>),
                };
                let cg = live.cg.as_ref();
                outcome::supervise(&mut live.init, cg, limits, attended, t_release, is_zk)
            });
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

    /// Applies the job's memory limit and priority, sends init the output spec and the
    /// payload its release (wiped here once written); returns when the release was sent.
    fn hand_over(
        &self,
        live: &mut Live,
        limits: &protocol::Limits,
        release: &mut Release,
        output: Option<&OutputSpec>,
    ) -> Result<Instant, SandboxError> {
        if limits.memory_mb != self.profile.limits.memory_mb {
            live.cg.set_memory(memory_bytes(limits.memory_mb))?;
        }
        // Prepared at PREPARE_NICE; the job runs at the normal priority (the payload cannot
        // lower its own nice value: that needs CAP_SYS_NICE).
        let _ = sys::set_nice(0, 0);
        let sandbox = &self.profile.sandbox;
        if sandbox.kept_cgroup.is_some() && sandbox.uid != 0 {
            // A leased uid (it comes with the kept group's name), which no other live sandbox
            // of this server has: init (root) by its pid, every process and thread of the run
            // (its uid set before it said `ready`) in one call, not a read of the members.
            let _ = sys::set_nice(live.init.pid, 0);
            let _ = sys::set_user_nice(sandbox.uid, 0);
        } else {
            // A uid other sandboxes (or host processes, `nobody`) may share: by pid.
            for pid in live.cg.members().unwrap_or_default() {
                let _ = sys::set_nice(pid, 0);
            }
        }
        // Before the release: the spec is complete in the pipe before any user code runs.
        send_output_spec(&mut live.init, output)?;
        release.timeout_ms = limits.timeout_ms;
        let frame = Zeroizing::new(if self.profile.prestart {
            warm::encode_release(release)?
        } else {
            protocol::encode_frame(release)
                .map_err(|e| SandboxError::InvalidJob(format!("encoding the release: {e}")))?
        });
        release.wipe();
        release.files = Vec::new();
        let t_release = Instant::now();
        // If the payload died meanwhile the write fails (EPIPE); the pump then finds init gone
        // and the error pipe tells why.
        let _ = live.init.release.write_all(&frame);
        Ok(t_release)
    }
}

/// Writes the job's output spec to init's spec pipe (nothing without one) and closes it.
/// Init reads it without waiting once the payload exited, so it must fit in the pipe's
/// buffer: [`OutputSpec::check`] bounds it, and it is checked again here.
fn send_output_spec(init: &mut Init, output: Option<&OutputSpec>) -> Result<(), SandboxError> {
    let Some(mut pipe) = init.output_spec.take() else {
        return Err(SandboxError::InvalidJob("sandbox already used".into()));
    };
    let Some(output) = output else {
        return Ok(());
    };
    let frame = protocol::encode_frame(output)
        .map_err(|e| SandboxError::InvalidJob(format!("encoding the output spec: {e}")))?;
    if frame.len() > collect::MAX_SPEC_FRAME {
        return Err(SandboxError::InvalidJob(
            "the output spec is too large".into(),
        ));
    }
    // Never blocks (the frame fits in the pipe's buffer). If init is gone already (its payload
    // died before the release), EPIPE: ignored like the release's own write, the pump finds
    // init gone and the error pipe tells why.
    sys::set_nonblocking(std::os::fd::AsFd::as_fd(&pipe))?;
    let _ = pipe.write_all(&frame);
    Ok(())
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Some(live) = self.inner.take() {
            let _ = teardown::teardown(live);
        }
    }
}
