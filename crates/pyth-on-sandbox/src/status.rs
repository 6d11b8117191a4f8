//! The status pipe's report: `key value` lines written by init and the payload (timings,
//! `ready`, the ZK outcome, then init's `code N` / `signal N` for the payload's exit). The pipe
//! is close-on-exec, so only trusted code before exec ever writes to it.

use crate::sys;
use crate::zk::ZkOutcome;

/// What the sandbox wrote to the status pipe: `key value` lines (timings from init and the
/// payload, `ready`, the ZK outcome, then init's `code N` / `signal N` for the payload's exit).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct StatusReport {
    pub(crate) exit: Option<sys::Exit>,
    pub(crate) join_ms: f64,
    pub(crate) rootfs_ms: f64,
    pub(crate) privileges_ms: f64,
    pub(crate) ready: bool,
    /// Init of a fork-server sandbox is set up and waits for its payload.
    pub(crate) init: bool,
    pub(crate) zk: Option<ZkOutcome>,
    /// CPU time of every process of the run, from init once it reaped them all (`None` when
    /// init did not say: it was killed first).
    pub(crate) cpu_us: Option<f64>,
}

/// Parses the complete lines of `s` (a line still being written is ignored).
pub(crate) fn parse_status(s: &str) -> StatusReport {
    let mut r = StatusReport::default();
    // Only complete lines: the pipe may be read mid-line while the run is being prepared.
    let complete = s.rfind('\n').map_or("", |i| &s[..i]);
    for line in complete.lines() {
        let Some((key, value)) = line.split_once(' ') else {
            continue;
        };
        let num = value.trim().parse::<f64>().ok();
        match (key, num) {
            ("code", Some(n)) => r.exit = Some(sys::Exit::Code(n as i32)),
            ("signal", Some(n)) => r.exit = Some(sys::Exit::Signal(n as i32)),
            ("join_ms", Some(n)) => r.join_ms = n,
            ("rootfs_ms", Some(n)) => r.rootfs_ms = n,
            ("privileges_ms", Some(n)) => r.privileges_ms = n,
            ("ready", _) => r.ready = true,
            ("init", _) => r.init = true,
            ("zk", _) => r.zk = ZkOutcome::from_word(value.trim()),
            ("cpu_us", Some(n)) => r.cpu_us = Some(n),
            _ => {}
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_status_reports_are_parsed() {
        let r = parse_status(
            "join_ms 0.5\nrootfs_ms 1.25\nprivileges_ms 0.3\nready 1\nzk integrity\ncpu_us 1500\ncode 3\n",
        );
        assert_eq!(r.cpu_us, Some(1500.0));
        assert_eq!(r.exit, Some(sys::Exit::Code(3)));
        assert_eq!((r.join_ms, r.rootfs_ms, r.privileges_ms), (0.5, 1.25, 0.3));
        assert!(r.ready);
        assert_eq!(r.zk, Some(ZkOutcome::Integrity));
        assert_eq!(parse_status("signal 9\n").exit, Some(sys::Exit::Signal(9)));
        assert_eq!(parse_status(""), StatusReport::default());
        assert_eq!(parse_status("weird 1\ncode x\n").exit, None);
    }

    #[test]
    fn a_partial_status_line_is_not_read_yet() {
        assert!(!parse_status("join_ms 1\nrea").ready);
        assert!(!parse_status("join_ms 1\nready").ready);
        assert!(parse_status("join_ms 1\nready 1\n").ready);
    }
}
