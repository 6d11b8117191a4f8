//! What the kernel shows of one network namespace (its [`Trace`]): the files of `/proc/net`
//! that change when a process without privileges uses the namespace, without the
//! machine-wide numbers some of them also show. They are opened once from inside the
//! namespace ([`TraceFiles`]): a `/proc/net` file stays bound to the namespace it was opened
//! in, so each later read shows that namespace from wherever it is made, without `setns`
//! and without a path lookup (opening and closing the ten files was three quarters of the
//! cost of a check).

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::SysError;
use crate::sys;

/// Files of `/proc/net` compared byte for byte: packet counters, flow labels, and the IPv6
/// routing table with its per-CPU route copies (`rt6_stats`, the references of `::1` in
/// `ipv6_route`), which an IPv6 route lookup changes without sending a packet.
const COUNTERS: [&str; 7] = [
    "dev",
    "snmp",
    "snmp6",
    "netstat",
    "ip6_flowlabel",
    "rt6_stats",
    "ipv6_route",
];

/// Descriptors a [`TraceFiles`] holds.
pub const TRACE_FILES: usize = COUNTERS.len() + 3;

/// Fields of `sockstat`/`sockstat6` that are the machine's, not the namespace's.
const GLOBAL_FIELDS: [&str; 3] = ["orphan", "alloc", "mem"];

/// What the kernel shows of one network namespace, without its global fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace(Vec<String>);

/// The files of one namespace's [`Trace`], open.
#[derive(Debug)]
pub struct TraceFiles {
    /// [`COUNTERS`], in order.
    counters: Vec<File>,
    protocols: File,
    sockstat: File,
    sockstat6: File,
}

impl TraceFiles {
    /// Opens the files of the calling thread's network namespace.
    pub fn open_current() -> Result<Self, SysError> {
        // One lookup of the thread's `net` directory, then each file beneath it.
        let dir = "/proc/thread-self/net";
        let net = File::open(dir).map_err(|e| SysError::from_io("open", dir.into(), e))?;
        let net = OwnedFd::from(net);
        let open = |name: &str| -> Result<File, SysError> {
            Ok(sys::openat(net.as_fd(), Path::new(name), libc::O_RDONLY)?.into())
        };
        Ok(Self {
            counters: COUNTERS
                .iter()
                .map(|name| open(name))
                .collect::<Result<_, _>>()?,
            protocols: open("protocols")?,
            sockstat: open("sockstat")?,
            sockstat6: open("sockstat6")?,
        })
    }

    /// Reads the namespace's trace now.
    pub fn read(&self) -> Result<Trace, SysError> {
        let mut parts = Vec::with_capacity(TRACE_FILES);
        for (file, name) in self.counters.iter().zip(COUNTERS) {
            parts.push(read_whole(file, name)?);
        }
        parts.push(sockets_in_use(&read_whole(&self.protocols, "protocols")?));
        for (file, name) in [(&self.sockstat, "sockstat"), (&self.sockstat6, "sockstat6")] {
            parts.push(without_global_fields(&read_whole(file, name)?));
        }
        Ok(Trace(parts))
    }
}

/// Reads `file` from its start (a read at offset 0 has the kernel show it afresh).
fn read_whole(file: &File, name: &str) -> Result<String, SysError> {
    let mut text = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let offset = u64::try_from(text.len()).unwrap_or(u64::MAX);
        let n = file
            .read_at(&mut chunk, offset)
            .map_err(|e| SysError::from_io("pread", format!("/proc/net/{name}"), e))?;
        if n == 0 {
            break;
        }
        text.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(text).map_err(|e| {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        SysError::from_io("read", format!("/proc/net/{name}"), e)
    })
}

/// `protocols`: each protocol's name and its sockets in this namespace (the third column;
/// the fourth, memory, is global).
fn sockets_in_use(protocols: &str) -> String {
    protocols
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            Some(format!("{} {}\n", cols.next()?, cols.nth(1)?))
        })
        .collect()
}

/// `sockstat`: `NAME: key value key value ...` without the machine-wide pairs, and without
/// `sockets: used`, which counts a closed socket until it is freed after an RCU grace period
/// (the exact per-protocol counts are in `protocols`).
fn without_global_fields(sockstat: &str) -> String {
    let mut out = String::new();
    for line in sockstat.lines().filter(|l| !l.starts_with("sockets:")) {
        let mut words = line.split_whitespace();
        out.push_str(words.next().unwrap_or(""));
        let words: Vec<&str> = words.collect();
        for pair in words.chunks(2) {
            if !GLOBAL_FIELDS.contains(&pair[0]) {
                out.push(' ');
                out.push_str(&pair.join(" "));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_and_racy_sockstat_fields_are_left_out_and_the_namespace_ones_kept() {
        let text =
            "sockets: used 3\nTCP: inuse 1 orphan 7 tw 2 alloc 9 mem 62\nFRAG: inuse 0 memory 0\n";
        assert_eq!(
            without_global_fields(text),
            "TCP: inuse 1 tw 2\nFRAG: inuse 0 memory 0\n"
        );
    }

    #[test]
    fn protocols_keep_each_name_with_its_socket_count_only() {
        let text =
            "protocol  size sockets  memory press\nUNIX-STREAM 1152 2 -1 NI\nTCP 2304 0 62 no\n";
        assert_eq!(sockets_in_use(text), "UNIX-STREAM 2\nTCP 0\n");
    }
}
