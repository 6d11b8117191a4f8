//! A fork server's request: one line of seven space-separated fields, as the runner writes it
//! ([`super::request_line`]), with the descriptors that come with it.

use crate::sys;

/// Init's pidfd and the payload's eight pipe ends come first in a request's descriptors, in
/// this order: init, stdin, stdout, stderr, error, status, release, exit, notice (then the
/// run's `cgroup.procs` files).
pub(super) const PIPES: usize = 8;
/// Where the exit pipe's write end is among a request's descriptors (the fork server's copy
/// of it reports the payload's end; the payload has none).
pub(super) const EXIT_PIPE: usize = 7;

/// A request line is shorter than this.
pub(super) const MAX_REQUEST: usize = 4096;

/// The most cgroup files a request may name (with init's pidfd and the eight pipe ends, the
/// descriptors one message carries at most).
const MAX_CGROUPS: usize = sys::MAX_FDS - PIPES - 1;

/// One request, as the runner wrote it ([`super::request_line`]).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Request {
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) nofile: u64,
    pub(super) fsize: u64,
    pub(super) cpu_secs: u64,
    pub(super) cgroups: usize,
    pub(super) main: String,
}

impl Request {
    /// Parses a request line; a payload never runs as root.
    pub(super) fn parse(line: &[u8]) -> Result<Request, String> {
        let line = std::str::from_utf8(line).map_err(|_| "a request is not UTF-8".to_string())?;
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [uid, gid, nofile, fsize, cpu, cgroups, main] = fields[..] else {
            return Err(format!("a request has 7 fields, not {}", fields.len()));
        };
        let int = |s: &str| s.parse::<u64>().map_err(|_| format!("not a number: {s:?}"));
        // (uid_t)-1 means "unchanged" to setresuid: refused like root.
        let id = |s: &str| match int(s)? {
            0 => Err("a payload never runs as root".to_string()),
            n if n >= u64::from(u32::MAX) => Err(format!("not an id: {n}")),
            n => Ok(n as u32),
        };
        let cgroups = int(cgroups)?;
        if cgroups > MAX_CGROUPS as u64 {
            return Err(format!("{cgroups} cgroup files, more than {MAX_CGROUPS}"));
        }
        Ok(Request {
            uid: id(uid)?,
            gid: id(gid)?,
            nofile: int(nofile)?,
            fsize: int(fsize)?,
            cpu_secs: int(cpu)?,
            cgroups: cgroups as usize,
            main: main.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_line_is_parsed_into_its_seven_fields() {
        let request = Request::parse(b"201826 201826 256 1048576 7 2 /code/main.py").unwrap();
        assert_eq!(
            request,
            Request {
                uid: 201826,
                gid: 201826,
                nofile: 256,
                fsize: 1048576,
                cpu_secs: 7,
                cgroups: 2,
                main: "/code/main.py".into(),
            }
        );
    }

    #[test]
    fn a_request_for_root_or_with_a_field_missing_or_malformed_is_refused() {
        let refused = |line: &[u8]| Request::parse(line).unwrap_err();
        assert!(refused(b"0 5 1 1 1 0 /m").contains("root"));
        assert!(refused(b"5 0 1 1 1 0 /m").contains("root"));
        assert!(refused(b"5 5 1 1 1 0").contains("7 fields, not 6"));
        assert!(refused(b"5 5 1 x 1 0 /m").contains("not a number"));
        assert!(refused(b"5 5 1 1 -1 0 /m").contains("not a number"));
        assert!(refused(b"4294967295 5 1 1 1 0 /m").contains("not an id"));
        assert!(refused(b"5 4294967295 1 1 1 0 /m").contains("not an id"));
        assert!(refused(b"5 5 1 1 1 24 /m").contains("24 cgroup files, more than 23"));
        assert!(refused(b"5 5 1 1 1 18446744073709551615 /m").contains("more than 23"));
        assert!(refused(b"\xff").contains("UTF-8"));
    }
}
