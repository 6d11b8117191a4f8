//! The I/O loop of one run: feeds stdin, captures stdout/stderr up to a byte cap, watches the
//! error pipe (EOF = the interpreter was exec'd, or the payload ended before that), the status
//! pipe (init reports the payload's exit there) and init's pidfd, and enforces the wall-clock
//! deadline. Any limit hit SIGKILLs init through its pidfd, which makes the kernel kill the
//! whole PID namespace.
//!
//! The run is over when init has exited and the output is drained, or earlier, when init has
//! reported the payload's exit and stdout and stderr are at EOF (nothing alive holds them): the
//! result is then complete, and init's own exit (taking the namespaces down, ~1 ms) happens in
//! the teardown after the answer ([`Pump::payload_reported`]).

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::error::SysError;
use crate::sys;

/// After a kill, how long we keep draining before giving up on the pipes.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// One captured output stream.
#[derive(Debug)]
pub(crate) struct Capture {
    fd: Option<File>,
    pub(crate) buf: Vec<u8>,
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

/// The I/O loop of one run.
#[derive(Debug)]
pub(crate) struct Pump<'a> {
    stdin_data: &'a [u8],
    stdin: Option<File>,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
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
}

impl<'a> Pump<'a> {
    pub(crate) fn new(
        stdin_data: &'a [u8],
        cap: u64,
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
        error: OwnedFd,
        status: OwnedFd,
    ) -> Result<Self, SysError> {
        for fd in [&stdin, &stdout, &stderr, &error, &status] {
            sys::set_nonblocking(fd.as_fd())?;
        }
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        let data = stdin_data;
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
            status_fd: Some(File::from(status)),
            status: String::new(),
            payload_reported: false,
            exit_in_status: false,
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
            self.feed_stdin();
            let over_cap = self.stdout.pump()? | self.stderr.pump()?;
            self.read_error();
            self.read_status();
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
            if !init_exited
                && killed_at.is_none()
                && streams_done
                && self.error_fd.is_none()
                && self.exit_in_status
            {
                self.payload_reported = true;
                return Ok(());
            }
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
            for f in [
                &self.stdout.fd,
                &self.stderr.fd,
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
