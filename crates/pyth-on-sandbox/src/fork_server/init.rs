//! A fork-server sandbox's init while its payload runs: the payload is not init's child (the
//! fork server forked it into the PID namespace after a `setns` and stays its parent, outside),
//! so init learns how it ended from the exit pipe, and meanwhile reaps the orphans
//! that its descendants leave (those are re-parented to init as usual).

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

/// Waits until the exit pipe gives the payload's exit line (or reaches EOF: the reporting
/// process died), reaping orphans as they come; returns the report. Not waiting for the EOF
/// keeps the reporting process's own exit off the run's path. `children` is a `SIGCHLD`
/// signalfd ([`sys::child_signal_fd`]).
pub(crate) fn wait_for_payload(mut exit: File, children: &File) -> PayloadEnd {
    let mut report = Vec::new();
    let mut chunk = [0u8; 256];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: exit.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: children.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if sys::poll(&mut fds, -1).is_err() {
            continue; // EINTR
        }
        if fds[1].revents != 0 {
            drain(children);
            while let Ok(Some(_)) = sys::waitpid(-1, true) {}
        }
        if fds[0].revents != 0 {
            match exit.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) if report.len() < 4096 => report.extend_from_slice(&chunk[..n]),
                Ok(_) => {}
            }
            if has_exit_line(&report) {
                break;
            }
        }
    }
    parse_report(&String::from_utf8_lossy(&report))
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
    fn a_missing_report_counts_as_killed() {
        assert_eq!(parse_report("").exit, sys::Exit::Signal(libc::SIGKILL));
        assert_eq!(
            parse_report("cpu_us 5\n").exit,
            sys::Exit::Signal(libc::SIGKILL)
        );
    }
}
