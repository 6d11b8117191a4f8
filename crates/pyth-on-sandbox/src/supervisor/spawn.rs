//! Creating a run: its pipes, init cloned into new namespaces, and the wait for the payload's
//! `ready`.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Instant;

use super::{CLONE_NAMESPACES, NEW_ROOT_DIR, READY_DEADLINE};
use crate::cgroup::RunCgroup;
use crate::child::{self, ChildPlan};
use crate::error::{CgroupError, SandboxError, SysError};
use crate::fork_server::{self, Handoff};
use crate::protocol::{ForkServerRef, JobSpec};
use crate::pump::{ReadBuffer, RunPipes};
use crate::rootfs::{self, Root};
use crate::status::parse_status;
use crate::{netns, seccomp, sys};

/// Init's pid and pidfd and the supervisor's ends of the pipes.
#[derive(Debug)]
pub(crate) struct Init {
    pub(crate) pid: i32,
    pub(crate) pidfd: OwnedFd,
    pub(crate) release: File,
    /// Write end of the output-spec pipe: the job's `OutputSpec` is written there at release
    /// and the pipe closed (init reads it once the payload exited).
    pub(crate) output_spec: Option<File>,
    /// stdin (write end), stdout, stderr, error, files (read ends); taken by the pump.
    pub(crate) pipes: Option<RunPipes>,
    /// The pump's read buffer; taken by the pump.
    pub(crate) read_buffer: ReadBuffer,
    pub(crate) status: File,
    /// Read end of a session's cell-result pipe ([`crate::session`]).
    pub(crate) cells: Option<File>,
    pub(crate) status_text: String,
    /// Init was reaped (by the supervisor, once the run ended).
    pub(crate) reaped: bool,
    /// The payload's ends, kept for the fork server until init asks for the payload
    /// ([`crate::fork_server`]).
    pub(crate) handoff: Option<(ForkServerRef, Handoff)>,
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

/// The run cgroup's memory use, opened read-only for init ([`ChildPlan::memory_usage`]).
fn open_memory_usage(cg: &dyn RunCgroup) -> Result<File, CgroupError> {
    let path = cg.memory_usage_file();
    File::open(&path).map_err(|e| CgroupError::io("open", path, e))
}

/// The supervisor's ends of a run's pipes: the pump's, status, release, output spec, cells.
type Ours = (RunPipes, OwnedFd, OwnedFd, OwnedFd, Option<OwnedFd>);

/// The write ends of the exit and notice pipes (a fork server's payload takes them).
type PayloadEnds = (Option<OwnedFd>, Option<OwnedFd>);

/// Where the run's root comes from: the spawner's skeleton, else built on the host's
/// `NEW_ROOT_DIR`, in the server's mount namespace.
fn root_for(profile: &JobSpec) -> Result<Root, SandboxError> {
    if let Some(skeleton) = rootfs::skeleton::for_job(profile) {
        return Ok(Root::Skeleton(skeleton));
    }
    rootfs::skeleton::leave_spawner_namespace()?;
    std::fs::create_dir_all(NEW_ROOT_DIR)
        .map_err(|e| SysError::from_io("mkdir", NEW_ROOT_DIR.into(), e))?;
    Ok(Root::Build(NEW_ROOT_DIR.into()))
}

/// Creates the pipes: init's plan, the supervisor's ends, the payload's.
fn plan<'a>(
    profile: &'a JobSpec,
    cg: &dyn RunCgroup,
    policy: seccomp::Policy,
    root: Root,
) -> Result<(ChildPlan<'a>, Ours, PayloadEnds), SandboxError> {
    let (stdin_r, stdin_w) = sys::pipe()?;
    let (stdout_r, stdout_w) = sys::pipe()?;
    let (stderr_r, stderr_w) = sys::pipe()?;
    let (error_r, error_w) = sys::pipe()?;
    let (status_r, status_w) = sys::pipe()?;
    let (release_r, release_w) = sys::pipe()?;
    let (spec_r, spec_w) = sys::pipe()?;
    let (files_r, files_w) = sys::pipe()?;
    let (cells_r, cells_w) = optional_pipe(profile.session)?;
    let (exit_r, exit_w) = optional_pipe(profile.fork_server.is_some())?;
    let (notice_r, notice_w) = optional_pipe(profile.fork_server.is_some())?;
    // A leased network namespace: opened here (the path is the launcher's descriptor), entered
    // by init instead of a new one.
    let netns = profile.netns.as_ref().map(netns::open).transpose()?;
    let plan = ChildPlan {
        spec: profile,
        policy,
        root,
        cgroup_procs: open_procs(cg)?,
        stdin: stdin_r,
        stdout: stdout_w,
        stderr: stderr_w,
        error: error_w,
        status: status_w,
        release: File::from(release_r),
        output_spec: Some(File::from(spec_r)),
        files: Some(File::from(files_w)),
        cells: cells_w,
        payload_exit: exit_r.map(File::from),
        payload_notice: notice_r.map(File::from),
        memory_usage: match profile.fork_server {
            Some(_) => Some(open_memory_usage(cg)?),
            None => None,
        },
        netns,
    };
    let pipes = RunPipes {
        stdin: stdin_w,
        stdout: stdout_r,
        stderr: stderr_r,
        error: error_r,
        files: files_r,
    };
    let ours = (pipes, status_r, release_w, spec_w, cells_r);
    Ok((plan, ours, (exit_w, notice_w)))
}

/// Creates the pipes and clones init.
pub(super) fn spawn(
    profile: &JobSpec,
    cg: &dyn RunCgroup,
    policy: seccomp::Policy,
    wipe_in_child: &mut dyn FnMut(),
) -> Result<Init, SandboxError> {
    let root = root_for(profile)?;
    let (plan, ours, (exit_w, notice_w)) = plan(profile, cg, policy, root)?;
    let namespaces = match plan.netns {
        Some(_) => CLONE_NAMESPACES & !libc::CLONE_NEWNET,
        None => CLONE_NAMESPACES,
    };
    let (pid, pidfd) = match sys::clone_child(namespaces)? {
        sys::Cloned::Child => {
            // The child must not hold the supervisor's ends: stdin would never see EOF; nor
            // the write ends of the exit and notice pipes (init reads them until EOF).
            drop((ours, exit_w, notice_w));
            wipe_in_child();
            child::init_main(plan)
        }
        sys::Cloned::Parent { pid, pidfd } => (pid, pidfd),
    };
    // Closes the child's ends of every pipe in the supervisor, except those a fork server's
    // payload takes.
    let handoff = match (&profile.fork_server, exit_w, notice_w) {
        (Some(server), Some(exit), Some(notice)) => {
            Some((server.clone(), handoff(plan, exit, notice)))
        }
        _ => {
            drop(plan);
            None
        }
    };
    let (pipes, status, release, spec, cells) = ours;
    Ok(Init {
        pid,
        pidfd,
        release: File::from(release),
        output_spec: Some(File::from(spec)),
        pipes: Some(pipes),
        read_buffer: ReadBuffer::new(),
        status: File::from(status),
        cells: cells.map(File::from),
        status_text: String::new(),
        reaped: false,
        handoff,
    })
}

fn optional_pipe(wanted: bool) -> Result<(Option<OwnedFd>, Option<OwnedFd>), SandboxError> {
    if !wanted {
        return Ok((None, None));
    }
    let (r, w) = sys::pipe()?;
    Ok((Some(r), Some(w)))
}

/// The payload's ends out of `plan` (the rest of it is closed).
fn handoff(plan: ChildPlan<'_>, exit: OwnedFd, notice: OwnedFd) -> Handoff {
    Handoff {
        pipes: [
            plan.stdin,
            plan.stdout,
            plan.stderr,
            plan.error,
            plan.status,
            OwnedFd::from(plan.release),
            exit,
            notice,
        ],
        cgroup_procs: plan.cgroup_procs,
    }
}

impl Init {
    /// Reads the status pipe until the payload says `ready`; on EOF, the set-up error. A
    /// fork-server sandbox's payload is asked for once init says it is set up.
    pub(super) fn wait_ready(&mut self, profile: &JobSpec) -> Result<(), SandboxError> {
        let deadline = Instant::now() + READY_DEADLINE;
        let mut chunk = [0u8; 1024];
        loop {
            let status = parse_status(&self.status_text);
            if status.ready {
                return Ok(());
            }
            if status.init {
                if let Some((server, handoff)) = self.handoff.take() {
                    fork_server::request(&server, self.pidfd.as_fd(), handoff, profile)?;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SandboxError::ChildSetup(
                    "the sandbox did not become ready in time".into(),
                ));
            }
            let mut fds = [libc::pollfd {
                fd: self.status.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            if sys::poll(&mut fds, left.as_millis().clamp(1, 1000) as i32)? == 0 {
                continue;
            }
            let n = self
                .status
                .read(&mut chunk)
                .map_err(|e| SysError::from_io("read", "status pipe".into(), e))?;
            if n == 0 {
                let mut error = String::new();
                if let Some(pipes) = self.pipes.take() {
                    let _ = File::from(pipes.error).read_to_string(&mut error);
                }
                return Err(SandboxError::ChildSetup(if error.is_empty() {
                    "the sandbox exited before it was ready".into()
                } else {
                    error
                }));
            }
            self.status_text
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    }
}
