//! The I/O loop of one run: feeds stdin, captures stdout/stderr up to a byte cap (and, for a
//! job with `stream`, hands each chunk to a sink as soon as it is read), reads the files init
//! collected (bounded), watches the error pipe (EOF = the interpreter was exec'd, or the
//! payload ended before that), the status pipe (init reports the payload's exit there) and
//! init's pidfd, and enforces the wall-clock deadline. Any limit hit, and a sink that fails
//! (the server went away), SIGKILLs init through its pidfd, which makes the kernel kill the
//! whole PID namespace.
//!
//! The run is over when init has exited and the pipes are drained, or earlier, when init has
//! reported the payload's exit and stdout, stderr and the files pipe are at EOF (nothing alive
//! holds them: init closes the files pipe before it reports): the result is then complete, and
//! init's own exit (taking the namespaces down, ~1 ms) happens in the teardown after the
//! answer ([`Pump::payload_reported`]).
//!
//! A sink is called synchronously from this loop: a server that stops reading the runner's
//! stdout stalls the loop (the launcher's backstop then kills the runner).

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::error::SysError;
use crate::files::Stream;
use crate::sys;

/// After a kill, how long we keep draining before giving up on the pipes.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// The most one read of an output pipe returns: a pipe's default capacity.
const CHUNK: usize = 64 << 10;

/// Where live output goes: called with each chunk of stdout or stderr as it is read (never a
/// byte past the output cap). An error ends the run.
pub type OutputSink<'a> = dyn FnMut(Stream, &[u8]) -> io::Result<()> + 'a;

/// The pump's read buffer, a pipe's size. Made (its pages zeroed, and so faulted in) while a
/// sandbox is prepared, after init was cloned: not on the path of the run's release, and not
/// shared copy-on-write with init. Counted with `perf`: 16 page faults fewer between the job
/// and its release.
#[derive(Default)]
pub(crate) struct ReadBuffer(Box<[u8]>);

impl ReadBuffer {
    pub(crate) fn new() -> Self {
        Self(vec![0; CHUNK].into_boxed_slice())
    }
}

impl std::fmt::Debug for ReadBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReadBuffer({} bytes)", self.0.len())
    }
}

/// The supervisor's ends of a run's pipes (the status pipe aside).
#[derive(Debug)]
pub(crate) struct RunPipes {
    /// stdin, write end.
    pub(crate) stdin: OwnedFd,
    /// stdout, read end.
    pub(crate) stdout: OwnedFd,
    /// stderr, read end.
    pub(crate) stderr: OwnedFd,
    /// The error pipe, read end.
    pub(crate) error: OwnedFd,
    /// The files pipe (init's collected output files), read end.
    pub(crate) files: OwnedFd,
}

/// The job's side of the loop: what to feed, how much to keep, where to stream.
pub(crate) struct JobIo<'a> {
    /// Bytes for the program's stdin.
    pub(crate) stdin: &'a [u8],
    /// Per-stream cap on stdout and stderr.
    pub(crate) output_cap: u64,
    /// Most bytes init may send on the files pipe.
    pub(crate) files_cap: usize,
    /// Live output, for a job with `stream`.
    pub(crate) sink: Option<&'a mut OutputSink<'a>>,
}

/// The live-output sink and its first failure.
struct Live<'a> {
    sink: Option<&'a mut OutputSink<'a>>,
    error: Option<io::Error>,
}

impl std::fmt::Debug for Live<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("streaming", &self.sink.is_some())
            .field("error", &self.error)
            .finish()
    }
}

impl Live<'_> {
    fn send(&mut self, stream: Stream, data: &[u8]) {
        let Some(sink) = self.sink.as_mut() else {
            return;
        };
        if let Err(e) = sink(stream, data) {
            self.error = Some(e);
            self.sink = None;
        }
    }
}

/// One captured pipe: an output stream (streamed when the job asks) or the files pipe.
#[derive(Debug)]
pub(crate) struct Capture {
    /// `None` for the files pipe (never streamed).
    stream: Option<Stream>,
    fd: Option<File>,
    pub(crate) buf: Vec<u8>,
    cap: usize,
}

impl Capture {
    fn new(stream: Option<Stream>, fd: OwnedFd, cap: usize) -> Self {
        Self {
            stream,
            fd: Some(File::from(fd)),
            buf: Vec::new(),
            cap,
        }
    }

    /// Reads what is available through `chunk`, streaming what is kept; returns `true` if
    /// the cap was passed.
    fn pump(&mut self, live: &mut Live<'_>, chunk: &mut [u8]) -> Result<bool, SysError> {
        let Some(f) = self.fd.as_mut() else {
            return Ok(false);
        };
        loop {
            match f.read(chunk) {
                Ok(0) => {
                    self.fd = None;
                    return Ok(false);
                }
                Ok(n) => {
                    let room = self.cap.saturating_sub(self.buf.len());
                    let kept = &chunk[..n.min(room)];
                    self.buf.extend_from_slice(kept);
                    if let (Some(stream), false) = (self.stream, kept.is_empty()) {
                        live.send(stream, kept);
                    }
                    if n > room {
                        // The pipe stays open (what follows is read and dropped) until the
                        // run is killed: closing it first let the program die of EPIPE and
                        // init report that exit before the kill landed (a flaky exit code).
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

/// The I/O loop of one run.
#[derive(Debug)]
pub(crate) struct Pump<'a> {
    stdin_data: &'a [u8],
    stdin: Option<File>,
    /// Where the captures read into: one buffer of a pipe's size for the whole run
    /// ([`ReadBuffer`], made while the sandbox was prepared). A 64 KiB array on the stack in
    /// every read zeroed 64 KiB each time and, in a fresh runner, faulted in 16 pages of stack.
    chunk: Box<[u8]>,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
    /// What init sent on the files pipe ([`crate::files::collect`]).
    pub(crate) files: Capture,
    live: Live<'a>,
    error_fd: Option<File>,
    pub(crate) error: Vec<u8>,
    status_fd: Option<File>,
    /// What init and the payload wrote to the status pipe during the run.
    pub(crate) status: String,
    /// The run ended on init's report of the payload's exit, before init itself exited.
    pub(crate) payload_reported: bool,
    /// `status` holds init's report of the payload's exit.
    exit_in_status: bool,
    pub(crate) exec_at: Option<Instant>,
    pub(crate) timed_out: bool,
    pub(crate) truncated: bool,
    /// The run was killed for another reason (a failed sink, init sending too much): its
    /// files are not kept.
    pub(crate) killed: bool,
}

impl<'a> Pump<'a> {
    pub(crate) fn new(
        pipes: RunPipes,
        status: OwnedFd,
        io: JobIo<'a>,
        chunk: ReadBuffer,
    ) -> Result<Self, SysError> {
        let RunPipes {
            stdin,
            stdout,
            stderr,
            error,
            files,
        } = pipes;
        for fd in [&stdin, &stdout, &stderr, &error, &status, &files] {
            sys::set_nonblocking(fd.as_fd())?;
        }
        let cap = usize::try_from(io.output_cap).unwrap_or(usize::MAX);
        let data = io.stdin;
        Ok(Self {
            stdin_data: data,
            stdin: (!data.is_empty()).then(|| File::from(stdin)),
            chunk: if chunk.0.is_empty() {
                ReadBuffer::new().0
            } else {
                chunk.0
            },
            stdout: Capture::new(Some(Stream::Stdout), stdout, cap),
            stderr: Capture::new(Some(Stream::Stderr), stderr, cap),
            files: Capture::new(None, files, io.files_cap),
            live: Live {
                sink: io.sink,
                error: None,
            },
            error_fd: Some(File::from(error)),
            error: Vec::new(),
            status_fd: Some(File::from(status)),
            status: String::new(),
            payload_reported: false,
            exit_in_status: false,
            exec_at: None,
            timed_out: false,
            truncated: false,
            killed: false,
        })
    }

    /// The sink's first error (the run was killed for it).
    pub(crate) fn sink_error(&mut self) -> Option<io::Error> {
        self.live.error.take()
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

    /// Reads what the status pipe has; notes when init's report of the payload's exit is in.
    fn read_status(&mut self) {
        let Some(f) = self.status_fd.as_mut() else {
            return;
        };
        let mut chunk = [0u8; 1024];
        let mut got = false;
        loop {
            match f.read(&mut chunk) {
                Ok(0) => {
                    self.status_fd = None;
                    break;
                }
                // Trusted writers only (close-on-exec), but bounded all the same.
                Ok(n) if self.status.len() < 16 << 10 => {
                    self.status.push_str(&String::from_utf8_lossy(&chunk[..n]));
                    got = true;
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if got {
            self.exit_in_status = crate::status::parse_status(&self.status).exit.is_some();
        }
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

    pub(crate) fn run(&mut self, pidfd: &OwnedFd, deadline: Instant) -> Result<(), SysError> {
        let mut killed_at: Option<Instant> = None;
        let mut init_exited = false;
        loop {
            self.read_all(pidfd, &mut killed_at)?;
            let now = Instant::now();
            if now >= deadline && killed_at.is_none() && !init_exited {
                self.timed_out = true;
                kill(pidfd, &mut killed_at)?;
            }
            if self.is_over(init_exited, killed_at) {
                return Ok(());
            }
            let wait = if killed_at.is_some() || init_exited {
                50
            } else {
                deadline
                    .saturating_duration_since(now)
                    .as_millis()
                    .clamp(1, 1000) as i32
            };
            init_exited |= self.wait(pidfd, init_exited, wait)?;
        }
    }

    /// Feeds stdin and reads every pipe once; kills init when a limit is passed or the sink
    /// failed.
    fn read_all(
        &mut self,
        pidfd: &OwnedFd,
        killed_at: &mut Option<Instant>,
    ) -> Result<(), SysError> {
        self.feed_stdin();
        let over_cap = self.stdout.pump(&mut self.live, &mut self.chunk)?
            | self.stderr.pump(&mut self.live, &mut self.chunk)?;
        // Init is trusted and keeps to the cap; passing it all the same ends the run.
        let files_over_cap = self.files.pump(&mut self.live, &mut self.chunk)?;
        self.read_error();
        self.read_status();
        if over_cap && !self.truncated {
            self.truncated = true;
            kill(pidfd, killed_at)?;
        }
        if (files_over_cap || self.live.error.is_some()) && !self.killed {
            self.killed = true;
            kill(pidfd, killed_at)?;
        }
        Ok(())
    }

    /// Is the run over (see the module docs)?
    fn is_over(&mut self, init_exited: bool, killed_at: Option<Instant>) -> bool {
        let pipes_done = self.pipes_done();
        if !init_exited {
            let reported =
                killed_at.is_none() && pipes_done && self.error_fd.is_none() && self.exit_in_status;
            self.payload_reported = reported;
            return reported;
        }
        // The namespace is gone; the pipes must be at EOF or hold final bytes.
        pipes_done
            || killed_at.is_some_and(|k| k.elapsed() > KILL_GRACE)
            || self.drained_after_exit()
    }

    fn pipes_done(&self) -> bool {
        self.stdout.fd.is_none() && self.stderr.fd.is_none() && self.files.fd.is_none()
    }

    /// Polls every open pipe (and init's pidfd until it exited) for up to `wait_ms`; `true`
    /// once init has exited.
    fn wait(&self, pidfd: &OwnedFd, init_exited: bool, wait_ms: i32) -> Result<bool, SysError> {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(7);
        let mut add = |fd: i32, events: i16| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            })
        };
        for f in [
            &self.stdout.fd,
            &self.stderr.fd,
            &self.files.fd,
            &self.error_fd,
            &self.status_fd,
        ]
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
        sys::poll(&mut fds, wait_ms)?;
        Ok(fds
            .iter()
            .any(|p| p.fd == pidfd.as_raw_fd() && p.revents != 0))
    }

    /// After init exited every writer is dead, so a read that would block means EOF is near;
    /// we read once more and treat the streams as finished.
    fn drained_after_exit(&mut self) -> bool {
        let _ = self.stdout.pump(&mut self.live, &mut self.chunk);
        let _ = self.stderr.pump(&mut self.live, &mut self.chunk);
        let _ = self.files.pump(&mut self.live, &mut self.chunk);
        self.read_error();
        self.read_status();
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

    fn capture_of(bytes: &[u8], cap: usize) -> Capture {
        let (r, w) = sys::pipe().unwrap();
        sys::set_nonblocking(r.as_fd()).unwrap();
        File::from(w).write_all(bytes).unwrap();
        Capture::new(Some(Stream::Stdout), r, cap)
    }

    #[test]
    fn a_capture_keeps_at_most_its_cap() {
        let mut c = capture_of(b"0123456789", 4);
        let mut live = Live {
            sink: None,
            error: None,
        };
        assert!(c.pump(&mut live, &mut [0; 3]).unwrap());
        assert_eq!(c.buf, b"0123");
    }

    #[test]
    fn streamed_chunks_never_pass_the_cap() {
        let mut c = capture_of(b"0123456789", 4);
        let mut sent = Vec::new();
        let mut sink = |stream: Stream, data: &[u8]| {
            assert_eq!(stream, Stream::Stdout);
            sent.extend_from_slice(data);
            Ok(())
        };
        let mut live = Live {
            sink: Some(&mut sink),
            error: None,
        };
        assert!(c.pump(&mut live, &mut [0; 3]).unwrap());
        drop(live);
        assert_eq!(sent, b"0123");
    }

    #[test]
    fn a_failing_sink_is_remembered_and_not_called_again() {
        let mut c = capture_of(b"01", 100);
        let mut calls = 0;
        let mut sink = |_: Stream, _: &[u8]| {
            calls += 1;
            Err(io::Error::from(ErrorKind::BrokenPipe))
        };
        let mut live = Live {
            sink: Some(&mut sink),
            error: None,
        };
        assert!(!c.pump(&mut live, &mut [0; 3]).unwrap());
        live.send(Stream::Stderr, b"more");
        assert!(live.error.is_some() && live.sink.is_none());
        drop(live);
        assert_eq!(calls, 1);
    }
}
