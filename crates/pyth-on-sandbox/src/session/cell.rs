//! One cell of a session: the cell record written down the release pipe, stdout and stderr
//! streamed (capped per cell), the kernel's result record read from the cell-result pipe, the
//! deadline enforced (SIGINT to the kernel, then, past [`INTERRUPT_GRACE`], the sandbox killed),
//! the server's `Interrupt` frame obeyed the same way, and the kernel's death noticed through
//! its pidfd.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use super::open::Session;
use super::{
    CellError, CellResult, CellSpec, KernelCell, DEFAULT_CELL_TIMEOUT_MS, INTERRUPT_GRACE,
    MAX_RECORD_BYTES, MAX_RESULT_BYTES,
};
use crate::cgroup::CpuWeight;
use crate::error::{SandboxError, SysError};
use crate::files::Stream;
use crate::protocol::{self, JobResult, RunnerFrame, ServerFrame};
use crate::pump::OutputSink;
use crate::sys;

/// The state of the exchange in progress (a cell, or a file operation).
#[derive(Debug, Default)]
pub(super) struct CellRun {
    /// What is still to be written of the record to the kernel.
    pending: Vec<u8>,
    record: Vec<u8>,
    /// Largest answer accepted.
    max_record: usize,
    /// stdout and stderr are read (and streamed) during the exchange.
    read_output: bool,
    sent: [usize; 2],
    interrupted_at: Option<Instant>,
    /// The server's `Interrupt` frames are read during the exchange (a cell's).
    control: bool,
    /// The server asked for the interrupt.
    interrupted: bool,
    pub(super) timed_out: bool,
    truncated: bool,
    /// The sandbox was killed (grace passed, malformed record).
    pub(super) killed: bool,
    /// The kernel is gone (it died, or was killed).
    pub(super) ended: bool,
    pub(super) malformed: Option<String>,
}

impl CellRun {
    /// An exchange that sends `record` and accepts an answer of at most `max_record` bytes.
    pub(super) fn for_record(
        record: &impl serde::Serialize,
        max_record: usize,
        read_output: bool,
    ) -> Result<Self, SandboxError> {
        Ok(Self {
            pending: protocol::encode_frame(record)
                .map_err(|e| SandboxError::InvalidJob(format!("encoding a record: {e}")))?,
            max_record,
            read_output,
            ..Self::default()
        })
    }
}

impl Session {
    /// Runs `cell`: `Output` frames and the `CellResult` go to `output`. `Some` when the
    /// session ended with this cell (its final status, to be sent as `Result`).
    pub(super) fn cell(
        &mut self,
        cell: &CellSpec,
        output: &mut impl Write,
    ) -> Result<Option<JobResult>, SandboxError> {
        let started = Instant::now();
        let timeout = match cell.timeout_ms {
            0 => DEFAULT_CELL_TIMEOUT_MS,
            t => t,
        };
        let kernel_cell = KernelCell {
            code: &cell.code,
            max_results: MAX_RESULT_BYTES,
        };
        let mut run = CellRun::for_record(&kernel_cell, MAX_RECORD_BYTES, true)?;
        run.control = true;
        let deadline = started + Duration::from_millis(timeout);
        let oom_kills = self.oom_kills();
        let body = {
            let mut sink = crate::output_frames(output);
            self.exchange(&mut run, deadline, &mut sink)?
        };
        let mut result = match body.map(|b| serde_json::from_slice::<CellResult>(&b)) {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                run.malformed = Some(format!("malformed cell record: {e}"));
                run.killed = true;
                CellResult::default()
            }
            None => CellResult::default(),
        };
        let ended = run.killed || run.ended;
        if let Some(message) = run.malformed.take() {
            result.error = Some(CellError {
                name: "KernelError".into(),
                message,
                traceback: String::new(),
            });
        }
        result.timed_out = run.timed_out;
        result.interrupted = run.interrupted;
        result.output_truncated = run.truncated;
        result.memory_exceeded = self.oom_kills() > oom_kills;
        result.session_ended = ended;
        result.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        protocol::write_frame(output, &RunnerFrame::CellResult(Box::new(result)))
            .map_err(|e| SandboxError::Stream(io::Error::other(e.to_string())))?;
        Ok(ended.then(|| self.end(run.killed, run.timed_out)))
    }

    /// The I/O loop of one exchange: the kernel's answer (its body), or `None` when the
    /// kernel is dead or the sandbox was killed (`run.ended`).
    pub(super) fn exchange(
        &mut self,
        run: &mut CellRun,
        deadline: Instant,
        sink: &mut OutputSink<'_>,
    ) -> Result<Option<Vec<u8>>, SandboxError> {
        self.set_cpu_weight(CpuWeight::Normal);
        let body = self.pump(run, deadline, sink);
        self.set_cpu_weight(CpuWeight::Idle);
        let body = body?;
        run.ended |= body.is_none();
        Ok(body)
    }

    /// The session's CPU weight: the least between cells, so what its background threads
    /// run only gets CPU time nothing else wants (best effort: on a failure the weight stays
    /// as it was).
    pub(super) fn set_cpu_weight(&self, weight: CpuWeight) {
        if let Some(live) = self.teardown.live.as_ref() {
            let _ = live.cg.set_cpu_weight(weight);
        }
    }

    fn pump(
        &mut self,
        run: &mut CellRun,
        deadline: Instant,
        sink: &mut OutputSink<'_>,
    ) -> Result<Option<Vec<u8>>, SandboxError> {
        loop {
            self.write_pending(run);
            if let Err(e) = self.read_control(run) {
                self.kill();
                return Err(e);
            }
            if let Err(e) = self.read_output(run, sink) {
                self.kill();
                return Err(e);
            }
            if let Some(body) = self.read_record(run)? {
                // Written before the record: already in the pipes.
                self.read_output(run, sink)?;
                return Ok(Some(body));
            }
            if run.killed || self.kernel_gone(0) {
                let _ = self.read_output(run, sink);
                return Ok(None);
            }
            let now = Instant::now();
            if now >= deadline && !run.timed_out {
                run.timed_out = true;
                self.interrupt(run, now);
            }
            if run.truncated {
                self.interrupt(run, now);
            }
            if run
                .interrupted_at
                .is_some_and(|t| now >= t + INTERRUPT_GRACE)
            {
                self.kill();
                run.killed = true;
                continue;
            }
            let until = match run.interrupted_at {
                Some(t) => t + INTERRUPT_GRACE,
                None => deadline,
            };
            self.wait(run, until.saturating_duration_since(now))?;
        }
    }

    fn oom_kills(&self) -> u64 {
        let live = self.teardown.live.as_ref();
        live.and_then(|l| l.cg.oom_kills().ok()).unwrap_or(0)
    }

    /// SIGINT to the kernel, once per cell.
    fn interrupt(&self, run: &mut CellRun, now: Instant) {
        if run.interrupted_at.is_none() {
            let _ = sys::pidfd_send_signal(self.kernel.as_fd(), libc::SIGINT);
            run.interrupted_at = Some(now);
        }
    }

    /// Takes the server's `Interrupt` frame if one came: SIGINT to the kernel, as at the
    /// deadline (the same grace, then the sandbox killed). EOF (the server is gone) kills the
    /// sandbox; any other frame is a protocol error.
    fn read_control(&mut self, run: &mut CellRun) -> Result<(), SandboxError> {
        let Some(control) = self.control.as_mut().filter(|_| run.control) else {
            return Ok(());
        };
        let mut fds = [libc::pollfd {
            fd: control.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if sys::poll(&mut fds, 0)? == 0 {
            return Ok(());
        }
        match protocol::read_frame::<ServerFrame>(control) {
            Ok(ServerFrame::Interrupt) => {
                run.interrupted = true;
                self.interrupt(run, Instant::now());
                Ok(())
            }
            Ok(_) => Err(SandboxError::InvalidJob(
                "only an Interrupt frame may come while a cell runs".into(),
            )),
            Err(protocol::FrameError::Closed) => {
                self.control = None;
                self.kill();
                run.killed = true;
                Ok(())
            }
            Err(e) => Err(SandboxError::InvalidJob(format!("reading a frame: {e}"))),
        }
    }

    /// SIGKILL to init: the kernel's PID namespace dies with it.
    fn kill(&self) {
        if let Some(live) = self.teardown.live.as_ref() {
            let _ = sys::pidfd_send_signal(live.init.pidfd.as_fd(), libc::SIGKILL);
        }
    }

    /// Has the kernel exited (waiting up to `wait_ms` for it)?
    fn kernel_gone(&self, wait_ms: i32) -> bool {
        let mut fds = [libc::pollfd {
            fd: self.kernel.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        matches!(sys::poll(&mut fds, wait_ms), Ok(1..))
    }

    /// Writes what the pipe takes of the cell record; nothing more once the kernel is gone.
    fn write_pending(&mut self, run: &mut CellRun) {
        let Some(live) = self.teardown.live.as_mut() else {
            return;
        };
        while !run.pending.is_empty() {
            match live.init.release.write(&run.pending) {
                Ok(n) => drop(run.pending.drain(..n)),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => run.pending.clear(), // EPIPE: the kernel's pidfd tells
            }
        }
    }

    /// Streams what stdout and stderr have, within the cell's cap per stream.
    fn read_output(
        &mut self,
        run: &mut CellRun,
        sink: &mut OutputSink<'_>,
    ) -> Result<(), SandboxError> {
        if !run.read_output {
            return Ok(());
        }
        let cap = self.output_cap;
        for (i, (slot, stream)) in [
            (&mut self.stdout, Stream::Stdout),
            (&mut self.stderr, Stream::Stderr),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(f) = slot.as_mut() else { continue };
            let sent = &mut run.sent[i];
            let (open, over) = read_capped(f, stream, sent, cap, sink)?;
            run.truncated |= over;
            if !open {
                *slot = None;
            }
        }
        Ok(())
    }

    /// Reads the cell-result pipe; the record's body once complete.
    fn read_record(&mut self, run: &mut CellRun) -> Result<Option<Vec<u8>>, SandboxError> {
        let mut chunk = [0u8; 65536];
        loop {
            match self.results.read(&mut chunk) {
                // Closed by the cell itself while the kernel lives on (the kernel's own exit
                // closes it just before its pidfd turns readable): nothing can answer now.
                Ok(0) if !self.kernel_gone(100) => {
                    run.malformed = Some("the cell-result pipe was closed".into());
                    run.killed = true;
                    self.kill();
                    return Ok(None);
                }
                Ok(0) => break,
                Ok(n) => run.record.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(SysError::from_io("read", "cell pipe".into(), e).into()),
            }
            if run.record.len() > run.max_record + 4 {
                break;
            }
        }
        let Some(prefix) = run.record.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if len > run.max_record {
            run.malformed = Some(format!("a cell record of {len} bytes"));
            run.killed = true;
            self.kill();
            return Ok(None);
        }
        if run.record.len() < 4 + len {
            return Ok(None);
        }
        Ok(Some(run.record[4..4 + len].to_vec()))
    }

    /// Polls the open pipes and the kernel's pidfd for at most `left`.
    fn wait(&self, run: &CellRun, left: Duration) -> Result<(), SandboxError> {
        let mut fds = Vec::with_capacity(6);
        let mut add = |fd: i32, events: i16| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            })
        };
        if run.read_output {
            for f in [&self.stdout, &self.stderr].into_iter().flatten() {
                add(f.as_raw_fd(), libc::POLLIN);
            }
        }
        add(self.results.as_raw_fd(), libc::POLLIN);
        add(self.kernel.as_raw_fd(), libc::POLLIN);
        if let (true, Some(control)) = (run.control, self.control.as_ref()) {
            add(control.as_raw_fd(), libc::POLLIN);
        }
        if let (false, Some(live)) = (run.pending.is_empty(), self.teardown.live.as_ref()) {
            add(live.init.release.as_raw_fd(), libc::POLLOUT);
        }
        sys::poll(&mut fds, left.as_millis().clamp(1, 1000) as i32)?;
        Ok(())
    }
}

/// Reads `f` until it would block, handing at most `cap - sent` bytes to `sink`; returns
/// (still open, cap passed). Bytes past the cap are read and dropped, so the writer never
/// blocks on a full pipe.
fn read_capped(
    f: &mut File,
    stream: Stream,
    sent: &mut usize,
    cap: usize,
    sink: &mut OutputSink<'_>,
) -> Result<(bool, bool), SandboxError> {
    let mut chunk = [0u8; 65536];
    let mut over = false;
    loop {
        match f.read(&mut chunk) {
            Ok(0) => return Ok((false, over)),
            Ok(n) => {
                let room = cap.saturating_sub(*sent);
                let kept = &chunk[..n.min(room)];
                if !kept.is_empty() {
                    sink(stream, kept).map_err(SandboxError::Stream)?;
                }
                *sent += kept.len();
                over |= n > room;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok((true, over)),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(SysError::from_io("read", "output pipe".into(), e).into()),
        }
    }
}
