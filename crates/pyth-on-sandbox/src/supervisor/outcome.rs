//! Supervising a released job: the I/O loop ([`crate::pump`]) against the job's deadline,
//! reaping init if it is gone, and the [`JobResult`] from what the pipes said (output files
//! included, decoded from what init sent: [`crate::files::collect`]).

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use super::ms;
use super::spawn::Init;
use crate::cgroup::RunCgroup;
use crate::error::{SandboxError, SysError};
use crate::files::{collect, OutputFile, OutputSpec};
use crate::protocol::{self, JobResult, Timings};
use crate::pump::{JobIo, OutputSink, Pump};
use crate::status::{parse_status, StatusReport};
use crate::sys;
use crate::zk::ZkOutcome;

/// What the supervisor keeps of a job for itself (never sent to the payload).
pub(super) struct Attended<'s> {
    /// Bytes for the program's stdin.
    pub(super) stdin: String,
    /// The output files to collect (init was sent the spec at release).
    pub(super) output: Option<OutputSpec>,
    /// Where live output goes (only for a job with `stream`).
    pub(super) sink: Option<&'s mut OutputSink<'s>>,
}

/// Pumps the released run until it is over and builds its result.
pub(super) fn supervise(
    live: &mut Init,
    cg: &dyn RunCgroup,
    limits: &protocol::Limits,
    job: Attended<'_>,
    t_release: Instant,
    is_zk: bool,
) -> Result<JobResult, SandboxError> {
    let deadline = t_release + Duration::from_millis(limits.timeout_ms);
    let Some(pipes) = live.pipes.take() else {
        return Err(SandboxError::InvalidJob("sandbox already used".into()));
    };
    let status_r = live
        .status
        .try_clone()
        .map_err(|e| SysError::from_io("dup", "status pipe".into(), e))?;
    let Attended {
        stdin,
        output,
        sink,
    } = job;
    let io = JobIo {
        stdin: stdin.as_bytes(),
        output_cap: limits.max_output_bytes,
        files_cap: collect::wire_cap(output.as_ref()),
        sink: sink.map(|s| s as &mut OutputSink<'_>),
    };
    let chunk = std::mem::take(&mut live.read_buffer);
    let pumped = Pump::new(pipes, OwnedFd::from(status_r), io, chunk)
        .and_then(|mut pump| pump.run(&live.pidfd, deadline).map(|()| pump));
    let mut pump = match pumped {
        Ok(pump) => pump,
        Err(e) => {
            // Never leave a live sandbox behind an error: kill init (and so the namespace).
            let _ = sys::pidfd_send_signal(live.pidfd.as_fd(), libc::SIGKILL);
            let _ = sys::waitpid(live.pid, false);
            live.reaped = true;
            return Err(e.into());
        }
    };
    let exit = reap(live, &pump)?;
    let t_reaped = Instant::now();
    if let Some(e) = pump.sink_error() {
        return Err(SandboxError::Stream(e));
    }
    if !pump.error.is_empty() {
        return Err(SandboxError::ChildSetup(
            String::from_utf8_lossy(&pump.error).into_owned(),
        ));
    }
    let report = parse_status(&live.status_text);
    let times = (t_release, t_reaped);
    Ok(result(
        &pump,
        &report,
        exit,
        cg,
        times,
        is_zk,
        output.is_some(),
    ))
}

/// Adds what the pump read of the status pipe to init's, and reaps init unless it only
/// reported the payload's exit (it is exiting then; the teardown reaps it). Init's own exit
/// when it was reaped.
fn reap(live: &mut Init, pump: &Pump<'_>) -> Result<Option<sys::Exit>, SandboxError> {
    live.status_text.push_str(&pump.status);
    if pump.payload_reported {
        return Ok(None);
    }
    let exit = sys::waitpid(live.pid, false)?.map(|(_, e)| e);
    live.reaped = true;
    let mut rest = String::new();
    let _ = live.status.read_to_string(&mut rest);
    live.status_text.push_str(&rest);
    Ok(Some(exit.unwrap_or(sys::Exit::Signal(9))))
}

/// The result of a run that is over.
fn result(
    pump: &Pump<'_>,
    report: &StatusReport,
    exit: Option<sys::Exit>,
    cg: &dyn RunCgroup,
    (t_release, t_reaped): (Instant, Instant),
    is_zk: bool,
    wants_files: bool,
) -> JobResult {
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
    // A run that was killed (timeout, output cap, a failed sink) has no files: its init never
    // finished collecting, or what it sent is not trusted to be complete.
    let killed = pump.timed_out || pump.truncated || pump.killed;
    let (files, files_truncated) = if wants_files && !killed && !nothing_ran {
        collect::decode(&pump.files.buf).unwrap_or_default()
    } else {
        (Vec::<OutputFile>::new(), false)
    };
    JobResult {
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
        cpu_ms: report.cpu_us.map(|us| us / 1000.0),
        timings: Timings {
            setup_ms: ms(exec_at.saturating_duration_since(t_release)),
            run_ms: ms(t_reaped.saturating_duration_since(exec_at)),
            join_ms: report.join_ms,
            rootfs_ms: report.rootfs_ms,
            privileges_ms: report.privileges_ms,
            ..Timings::default()
        },
        zk,
        files,
        files_truncated,
    }
}
