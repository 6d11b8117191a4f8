#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]

pub mod cgroup;
pub mod child;
pub mod command;
pub mod cpus;
pub mod egress;
pub mod error;
pub mod files;
pub mod fork_server;
pub mod netns;
mod priority;
pub mod protocol;
mod pump;
pub mod release;
mod rlimits;
pub mod rootfs;
pub mod seccomp;
pub mod session;
pub mod spawner;
mod status;
pub mod supervisor;
mod sys;
pub mod warm;
pub mod zk;

use std::io::{Read, Write};
use std::os::fd::AsFd;

pub use error::{CgroupError, SandboxError};
pub use protocol::{
    JobResult, JobSpec, Language, Limits, RunnerFrame, SandboxOptions, ServerFrame,
};
pub use pump::OutputSink;
pub use supervisor::{prepare, run_job, Prepared, Teardown};
pub use zk::{ZkOutcome, ZkSpec};

/// Is this process running as root (needed for every real sandbox)?
pub fn running_as_root() -> bool {
    sys::is_root()
}

/// Ties this process (a runner) to the one that started it (the server): when the server's
/// spawning thread goes away (the server died, even by `kill -9`), the kernel sends this
/// process SIGKILL, and its sandbox's init dies with it (`PR_SET_PDEATHSIG` there too), which
/// takes the whole run down. A parent that already died before the call is caught by
/// comparing the parent pid, and the process exits at once.
pub fn die_with_parent() -> Result<(), error::SysError> {
    die_with(std::os::unix::process::parent_id())
}

/// [`die_with_parent`] for a process that knows which parent it must have (a runner forked by
/// the spawner: [`spawner::Role::Runner`]); exits at once if its parent is another already.
pub fn die_with(parent: u32) -> Result<(), error::SysError> {
    sys::set_parent_death_signal(libc::SIGKILL)?;
    if std::os::unix::process::parent_id() != parent {
        std::process::exit(1);
    }
    Ok(())
}

/// Makes the process's allocator give large blocks (1 MiB and up) back to the system when
/// they are freed (glibc `M_MMAP_THRESHOLD`; see `sys::set_malloc_mmap_threshold`). The server
/// calls it at start so password hashing's 19 MiB buffers do not stay resident. Here because
/// every `unsafe` of the workspace lives in this crate's `sys` module. `false` when not
/// applied (not glibc).
pub fn return_large_blocks_to_the_system() -> bool {
    sys::set_malloc_mmap_threshold(1 << 20)
}

/// What can end a runner session early.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The protocol stream failed.
    #[error(transparent)]
    Frame(#[from] protocol::FrameError),
    /// No cgroup hierarchy could be used.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// The sandbox could not be torn down after its result was sent (the runner exits
    /// non-zero and says why on stderr; the launcher logs it).
    #[error("teardown after the result: {0}")]
    Teardown(#[source] SandboxError),
}

/// One runner session: detect cgroups, send `Ready`, then either run one `Job` cold, or
/// `Prepare` a sandbox from a profile, send `Ready{preisolated: true}` and run the `Job` that
/// follows in it (EOF instead of a job: the prepared sandbox is torn down). For a job with
/// `stream`, sends an `Output` frame per chunk of stdout/stderr as it is read. Sends `Result`
/// (or `Failed`). The `pyth-on-runner` binary calls this with its stdin and stdout; set-up and
/// sandbox failures are reported in-band as `Failed` frames.
///
/// `input` must be unbuffered (a `File` on the pipe, not a locked `Stdin`): while a session's
/// cell runs, its descriptor is polled for an `Interrupt` frame, which a read-ahead buffer
/// would hide.
pub fn serve(input: &mut (impl Read + AsFd), output: &mut impl Write) -> Result<(), RunnerError> {
    let cgroups = match cgroup::detected() {
        Ok(c) => c,
        Err(e) => {
            protocol::write_frame(
                output,
                &RunnerFrame::Failed {
                    error: e.to_string(),
                },
            )?;
            return Err(e.into());
        }
    };
    let ready = |preisolated| ready_frame(cgroups, preisolated);
    protocol::write_frame(output, &ready(false))?;
    let first: ServerFrame = protocol::read_frame(input)?;
    let outcome = match first {
        ServerFrame::Session(profile) => {
            return session::serve(*profile, cgroups, input, output);
        }
        ServerFrame::Cell(_) | ServerFrame::File(_) | ServerFrame::Interrupt => Err(
            SandboxError::InvalidJob("a Cell, File or Interrupt frame outside a session".into()),
        ),
        ServerFrame::ForkServer(config) => {
            // Only returns if the exec failed.
            let e = fork_server::become_fork_server(&config);
            protocol::write_frame(
                output,
                &RunnerFrame::Failed {
                    error: error_chain(&e),
                },
            )?;
            return Ok(());
        }
        ServerFrame::Job(spec) => run_job(*spec, cgroups, Some(&mut output_frames(output))),
        ServerFrame::Prepare(profile) => match serve_prepared(*profile, cgroups, input, output)? {
            Some(outcome) => outcome,
            None => return Ok(()),
        },
    };
    answer(output, outcome)
}

/// Reports a run's outcome, then tears its sandbox down (the launcher reaps this process
/// after the teardown).
fn answer(output: &mut impl Write, outcome: RunOutcome) -> Result<(), RunnerError> {
    let (frame, teardown) = match outcome {
        Ok((result, teardown)) => (RunnerFrame::Result(Box::new(result)), Some(teardown)),
        Err(e) => (
            RunnerFrame::Failed {
                error: error_chain(&e),
            },
            None,
        ),
    };
    let sent = protocol::write_frame(output, &frame);
    if let Some(teardown) = teardown {
        teardown.background();
        teardown.finish().map_err(RunnerError::Teardown)?;
    }
    sent?;
    Ok(())
}

/// What a run gave: its result and teardown, or why there is none.
type RunOutcome = Result<(JobResult, Teardown), SandboxError>;

/// The warm pool's path: prepares a sandbox for `profile`, says `Ready{preisolated: true}`
/// and runs the `Job` that follows in it. `None`: nothing to report (the preparation failed
/// and was reported, or the pool retired the runner with EOF: dropping the prepared sandbox
/// tears it down).
fn serve_prepared(
    mut profile: JobSpec,
    cgroups: &dyn cgroup::Cgroups,
    input: &mut impl Read,
    output: &mut impl Write,
) -> Result<Option<RunOutcome>, RunnerError> {
    // Only a Session frame starts a kernel.
    profile.session = false;
    // Preparing ahead of time is background work: at a lower priority it yields the CPUs to
    // runs in progress (their set-up is on the request path). The release restores the
    // priority of everything in the sandbox (supervisor::PREPARE_NICE).
    let _ = sys::set_nice(0, supervisor::PREPARE_NICE);
    let prepared = match prepare(&profile, cgroups) {
        Ok(p) => p,
        Err(e) => {
            let error = error_chain(&e);
            protocol::write_frame(output, &RunnerFrame::Failed { error })?;
            return Ok(None);
        }
    };
    protocol::write_frame(output, &ready_frame(cgroups, true))?;
    match protocol::read_frame(input) {
        Ok(ServerFrame::Job(spec)) => {
            Ok(Some(prepared.run(*spec, Some(&mut output_frames(output)))))
        }
        Ok(_) => Ok(Some(Err(SandboxError::InvalidJob(
            "a prepared runner takes only a Job".into(),
        )))),
        Err(protocol::FrameError::Closed) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The `Ready` frame of this runner.
pub(crate) fn ready_frame(cgroups: &dyn cgroup::Cgroups, preisolated: bool) -> RunnerFrame {
    RunnerFrame::Ready(protocol::Ready {
        protocol_version: protocol::PROTOCOL_VERSION,
        pid: sys::getpid(),
        preisolated,
        cgroup: cgroups.version().into(),
    })
}

/// The live-output sink of a session: each chunk becomes a [`RunnerFrame::Output`] on
/// `output` (the runner's stdout), written and flushed at once.
pub(crate) fn output_frames<W: Write>(
    output: &mut W,
) -> impl FnMut(protocol::Stream, &[u8]) -> std::io::Result<()> + '_ {
    move |stream, data| {
        let chunk = protocol::OutputChunk {
            stream,
            data: data.to_vec(),
        };
        protocol::write_frame(output, &RunnerFrame::Output(chunk)).map_err(|e| match e {
            protocol::FrameError::Io(e) => e,
            other => std::io::Error::other(other.to_string()),
        })
    }
}

/// `err: cause: cause` on one line.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(c) = cur {
        let msg = c.to_string();
        if !s.contains(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_env = "gnu")]
    fn glibc_accepts_the_large_block_threshold() {
        assert!(super::return_large_blocks_to_the_system());
    }
}
