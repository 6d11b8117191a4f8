//! A fork-server sandbox's init while its payload runs: the payload is not init's child (the
//! fork server forked it into the PID namespace after a `setns` and stays its parent, outside),
//! so init learns how it ended from the exit pipe, and meanwhile reaps the orphans
//! that its descendants leave (those are re-parented to init as usual).
//!
//! The exit pipe's report comes late: the kernel frees the payload's copy of the fork server's
//! memory (~0.6 ms) before the fork server hears of the exit. So the payload's bootstrap also
//! sends a **notice** on a pipe of its own once the program is over (`code N`, after closing
//! stdout and stderr). It is untrusted (the program can write it as well), so it gives the exit
//! code and nothing else: init acts on it only when the payload is the only process the run
//! ever had ([`LastPid`]) and the run holds little memory ([`exit_is_cheap`]: the exit that
//! frees it is not charged), kills the run, and takes the CPU time from the
//! payload's process clock ([`sys::process_cpu_us`]), never from the notice
//! (`forked_init` in `child.rs`). docs/SECURITY.md, "A forked run's notice".

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;

use crate::sys;

/// How the payload ended, as the fork server reported it, and its CPU time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PayloadEnd {
    pub(crate) exit: sys::Exit,
    pub(crate) cpu_us: u64,
}

/// Parses the exit pipe's report (`cpu_us N`, then `code N` or `signal N`). Without an exit
/// line (the reporting process died), the payload counts as killed.
pub(crate) fn parse_report(report: &str) -> PayloadEnd {
    let mut end = PayloadEnd {
        exit: sys::Exit::Signal(libc::SIGKILL),
        cpu_us: 0,
    };
    for line in report.lines() {
        let Some((key, value)) = line.split_once(' ') else {
            continue;
        };
        match (key, value.trim().parse::<i64>()) {
            ("code", Ok(n)) => end.exit = sys::Exit::Code(n as i32),
            ("signal", Ok(n)) => end.exit = sys::Exit::Signal(n as i32),
            ("cpu_us", Ok(n)) => end.cpu_us = n.max(0) as u64,
            _ => {}
        }
    }
    end
}

/// The payload's PID in its sandbox: the first process the fork server forks there, after
/// init (1).
pub(crate) const PAYLOAD_PID: i32 = 2;

/// The most a notice may hold: one `code N` line.
const NOTICE_MAX: usize = 16;

/// How init learned that the payload's program is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The fork server's report (trusted): the payload was reaped.
    Reported(PayloadEnd),
    /// The payload's own notice (untrusted: user code could write it) that its program ended
    /// with this exit code; the payload may still be exiting.
    Noticed(i32),
}

/// What init watches while the payload runs: the exit pipe (the fork server's report), the
/// notice pipe (the payload's own word, until it gave one, sent garbage or closed it) and
/// `SIGCHLD` for the orphans to reap.
pub(crate) struct Watch {
    exit: File,
    report: Vec<u8>,
    notice: Option<File>,
    said: Vec<u8>,
    children: File,
}

impl Watch {
    /// `children` is a `SIGCHLD` signalfd ([`sys::child_signal_fd`]).
    pub(crate) fn new(exit: File, notice: Option<File>, children: File) -> Self {
        Self {
            exit,
            report: Vec::new(),
            notice,
            said: Vec::new(),
            children,
        }
    }

    /// Waits for the first of: the payload's notice, the fork server's report (or the exit
    /// pipe's EOF: the reporting process died). Reaps orphans meanwhile.
    pub(crate) fn next(&mut self) -> Ended {
        loop {
            let [exit, notice, children] = self.poll();
            if children {
                drain(&self.children);
                while let Ok(Some(_)) = sys::waitpid(-1, true) {}
            }
            if notice {
                if let Some(code) = self.read_notice() {
                    return Ended::Noticed(code);
                }
            }
            if exit && self.read_report() {
                return Ended::Reported(parse_report(&String::from_utf8_lossy(&self.report)));
            }
        }
    }

    /// Waits for the fork server's report only (a notice already came, or none counts now).
    pub(crate) fn report(mut self) -> PayloadEnd {
        self.notice = None;
        loop {
            if let Ended::Reported(end) = self.next() {
                return end;
            }
        }
    }

    /// Which of the exit pipe, the notice pipe and the signalfd are readable.
    fn poll(&self) -> [bool; 3] {
        let pollfd = |fd: i32| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // A negative descriptor is skipped by poll(2).
        let notice = self.notice.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        let mut fds = [
            pollfd(self.exit.as_raw_fd()),
            pollfd(notice),
            pollfd(self.children.as_raw_fd()),
        ];
        if sys::poll(&mut fds, -1).is_err() {
            return [false; 3]; // EINTR
        }
        fds.map(|p| p.revents != 0)
    }

    /// Reads the exit pipe; `true` once the report holds its exit line or the pipe is at EOF.
    fn read_report(&mut self) -> bool {
        let mut chunk = [0u8; 256];
        match self.exit.read(&mut chunk) {
            Ok(0) | Err(_) => return true,
            Ok(n) if self.report.len() < 4096 => self.report.extend_from_slice(&chunk[..n]),
            Ok(_) => {}
        }
        has_exit_line(&self.report)
    }

    /// Reads the notice pipe; the exit code once a complete `code N` line (0-255) came. Anything
    /// else, or EOF, and the notice pipe is no longer read.
    fn read_notice(&mut self) -> Option<i32> {
        let file = self.notice.as_mut()?;
        let mut chunk = [0u8; NOTICE_MAX];
        let n = match file.read(&mut chunk) {
            Ok(n) if n > 0 && self.said.len() + n <= NOTICE_MAX => n,
            _ => {
                self.notice = None;
                return None;
            }
        };
        self.said.extend_from_slice(&chunk[..n]);
        match parse_notice(&self.said) {
            Notice::Code(code) => Some(code),
            Notice::Incomplete => None,
            Notice::Invalid => {
                self.notice = None;
                None
            }
        }
    }
}

/// What the notice pipe said so far.
#[derive(Debug, PartialEq, Eq)]
enum Notice {
    Code(i32),
    Incomplete,
    Invalid,
}

fn parse_notice(said: &[u8]) -> Notice {
    let Some(line) = said.strip_suffix(b"\n") else {
        let partial = b"code ".starts_with(said) || said.starts_with(b"code ");
        return if partial && !said.contains(&b'\n') {
            Notice::Incomplete
        } else {
            Notice::Invalid
        };
    };
    let code = line
        .strip_prefix(b"code ")
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<i32>().ok())
        .filter(|code| (0..=255).contains(code));
    code.map_or(Notice::Invalid, Notice::Code)
}

/// The most memory a run may hold (its cgroup's use, page cache and tmpfs files included) and
/// still be ended at its payload's notice. The payload's exit frees its memory after init read
/// its CPU clock, so that time is never charged: at this size a few milliseconds (the fork
/// server's own ~13 MB take ~0.6 ms), where a run near its memory limit could leave hundreds
/// uncharged.
pub(crate) const CHEAP_EXIT_BYTES: u64 = 64 << 20;

/// Whether the run's memory use (`usage`: its cgroup's file, see
/// [`ChildPlan::memory_usage`](crate::child::ChildPlan::memory_usage)) is at most
/// [`CHEAP_EXIT_BYTES`]. Unknown counts as not.
pub(crate) fn exit_is_cheap(usage: Option<&File>) -> bool {
    usage
        .and_then(read_number::<u64>)
        .is_some_and(|bytes| bytes <= CHEAP_EXIT_BYTES)
}

/// The number a kernel file (a cgroup or sysctl file) holds, read from its start with one
/// `pread`: the same descriptor can be read again.
fn read_number<T: std::str::FromStr>(file: &File) -> Option<T> {
    let mut buf = [0u8; 32];
    let n = std::os::unix::fs::FileExt::read_at(file, &mut buf, 0).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}

/// The PID namespace's last PID (`/proc/sys/kernel/ns_last_pid`, of the reader's namespace),
/// opened once before the payload exists so that reading it later is one `pread`.
pub(crate) struct LastPid(Option<File>);

impl LastPid {
    pub(crate) fn open() -> Self {
        Self(File::open("/proc/sys/kernel/ns_last_pid").ok())
    }

    /// Whether the payload is the only process (and thread) the run ever had besides init:
    /// the namespace's last PID is still the payload's. Its CPU clock is then all the run used.
    pub(crate) fn only_the_payload_ever_ran(&self) -> bool {
        self.0.as_ref().and_then(read_number::<i32>) == Some(PAYLOAD_PID)
    }
}

/// Whether `report` holds a complete `code` or `signal` line (the child writes it last).
fn has_exit_line(report: &[u8]) -> bool {
    String::from_utf8_lossy(report)
        .split_inclusive('\n')
        .any(|l| l.ends_with('\n') && (l.starts_with("code ") || l.starts_with("signal ")))
}

/// Empties the signalfd (its records only say "a child changed state"; it is non-blocking).
fn drain(mut children: &File) {
    let mut buf = [0u8; 128 * 8];
    while matches!(children.read(&mut buf), Ok(n) if n > 0) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_report_gives_the_status_and_cpu_time() {
        let end = parse_report("cpu_us 1500\ncode 3\n");
        assert_eq!(end.exit, sys::Exit::Code(3));
        assert_eq!(end.cpu_us, 1500);
        assert_eq!(parse_report("signal 9\n").exit, sys::Exit::Signal(9));
    }

    #[test]
    fn the_exit_line_ends_the_wait_only_once_complete() {
        assert!(has_exit_line(b"cpu_us 5\ncode 0\n"));
        assert!(!has_exit_line(b"cpu_us 5\ncode 0"));
        assert!(!has_exit_line(b"cpu_us 5\n"));
        assert!(has_exit_line(b"signal 9\n"));
    }

    #[test]
    fn a_notice_counts_only_as_one_line_with_an_exit_code() {
        let cases: [(&[u8], Notice); 12] = [
            (b"code 0\n", Notice::Code(0)),
            (b"code 255\n", Notice::Code(255)),
            (b"code 007\n", Notice::Code(7)),
            (b"co", Notice::Incomplete),
            (b"code 1", Notice::Incomplete),
            (b"code 256\n", Notice::Invalid),
            (b"code -1\n", Notice::Invalid),
            (b"code \n", Notice::Invalid),
            (b"code 1 \n", Notice::Invalid),
            (b"exit 0\n", Notice::Invalid),
            (b"code 1\ncode 2\n", Notice::Invalid),
            (b"code 1\nco", Notice::Invalid),
        ];
        for (said, expected) in cases {
            assert_eq!(
                parse_notice(said),
                expected,
                "{}",
                String::from_utf8_lossy(said)
            );
        }
    }

    #[test]
    fn only_a_run_with_little_memory_is_ended_at_its_notice() {
        let usage = |text: &str| {
            let mut f = tempfile::tempfile().unwrap();
            std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
            f
        };
        assert!(exit_is_cheap(Some(&usage("1966080\n"))));
        assert!(exit_is_cheap(Some(&usage(&format!(
            "{CHEAP_EXIT_BYTES}\n"
        )))));
        assert!(!exit_is_cheap(Some(&usage(&format!(
            "{}\n",
            CHEAP_EXIT_BYTES + 1
        )))));
        assert!(
            !exit_is_cheap(Some(&usage("max\n"))),
            "unreadable counts as not"
        );
        assert!(!exit_is_cheap(None), "unknown counts as not");
    }

    #[test]
    fn a_missing_report_counts_as_killed() {
        assert_eq!(parse_report("").exit, sys::Exit::Signal(libc::SIGKILL));
        assert_eq!(
            parse_report("cpu_us 5\n").exit,
            sys::Exit::Signal(libc::SIGKILL)
        );
    }
}
