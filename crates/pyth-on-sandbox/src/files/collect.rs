//! Output files: what the run's init does once the payload has exited, and how the supervisor
//! reads what it sent.
//!
//! # Why init may read the run's files as root
//!
//! Init (pid 1 of the run, root, trusted code) collects the files the job's
//! [`OutputSpec`] names, and it does so only when nothing of the run can act any more:
//!
//! - **Nothing of the run is alive.** Init first kills every other process of its PID
//!   namespace (`kill(-1, SIGKILL)` from pid 1) and reaps until it has no child left. Every
//!   process of the run is in that namespace and a descendant of init (orphans are re-parented
//!   to it), and `setns` is denied by seccomp, so `ECHILD` means no process of the run exists:
//!   no file can change, be swapped for a link or grow while init reads it.
//! - **No link is followed.** `/work` is opened `O_DIRECTORY | O_NOFOLLOW`, every directory
//!   and file below it relative to its parent with `openat2(RESOLVE_BENEATH |
//!   RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)` (on a kernel without
//!   `openat2`: `openat(O_NOFOLLOW)` one component at a time). A symlink, to a file or a
//!   directory, is never opened or descended: `/proc/1/...`, `/etc/passwd` or anything else a
//!   link names stays unread.
//! - **Regular files only.** Each match is opened `O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
//!   O_NOCTTY` (a FIFO opens without waiting for a writer, no terminal becomes init's) and
//!   `fstat`ed; anything but a regular file (FIFO, socket, device) is skipped unread.
//! - **A hard link cannot point outside.** `/work` is a tmpfs of its own and `link()` does not
//!   cross file systems, so every regular file found there was created in it by the run (or
//!   is an input file); and it is `nodev`, so no device node there could be opened anyway.
//!
//! The walk is bounded: at most [`MAX_ENTRIES`] directory entries are visited, and nothing
//! deeper than [`MAX_PATH_DEPTH`] components or with a path that [`check_relative_path`]
//! refuses (too long, control characters, backslash, or a name that is not UTF-8) is
//! considered. Directories no pattern can match below are not walked.
//!
//! # What init sends
//!
//! The matches, in path order, up to [`OutputSpec::max_files`] files and
//! [`OutputSpec::max_bytes`] bytes of content (a file that would pass the byte bound is
//! skipped; either bound, or the entry bound, sets `truncated`), one record per file on the
//! files pipe, read into memory one file at a time:
//!
//! ```text
//! 'F' path_len:u32be path content_len:u64be content     (per file)
//! 'E' truncated:u8                                       (last)
//! ```
//!
//! Without the final `E` record (init killed mid-way: timeout, memory) the supervisor keeps
//! no file at all.

use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::glob::Pattern;
use crate::files::{check_relative_path, OutputFile, OutputSpec, MAX_PATH_BYTES, MAX_PATH_DEPTH};
use crate::{protocol, sys};

/// Most directory entries one collection visits.
pub const MAX_ENTRIES: usize = 10_000;

/// Largest encoded [`OutputSpec`] frame init accepts (the supervisor refuses larger ones; it
/// must fit in a pipe's buffer, since init reads it only after the payload exited).
pub(crate) const MAX_SPEC_FRAME: usize = 16 << 10;

/// Bytes a record adds to its content, at most.
const RECORD_OVERHEAD: u64 = 1 + 4 + MAX_PATH_BYTES as u64 + 8;

/// Reads the [`OutputSpec`] frame the supervisor wrote at release, without waiting: nothing
/// there (no job was released, or the job wants no files) or anything unreadable is `None`.
pub(crate) fn read_spec(mut pipe: File) -> Option<OutputSpec> {
    sys::set_nonblocking(pipe.as_fd()).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) if buf.len() + n <= MAX_SPEC_FRAME => buf.extend_from_slice(&chunk[..n]),
            Ok(_) => return None,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break, // WouldBlock: nothing (more) was written
        }
    }
    let spec: OutputSpec = protocol::read_frame(&mut buf.as_slice()).ok()?;
    (!spec.patterns.is_empty()).then_some(spec)
}

/// Finds the files `spec` names under `root` and writes their records to `out` (see the
/// module docs). Only call when no process of the run is left.
pub(crate) fn collect(root: &Path, spec: &OutputSpec, out: &mut impl Write) -> io::Result<()> {
    let patterns: Vec<Pattern> = spec
        .patterns
        .iter()
        .filter_map(|p| Pattern::new(p).ok())
        .collect();
    let root = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(root)?;
    let root = OwnedFd::from(root);
    let mut walk = Walk {
        patterns: &patterns,
        visited: 0,
        incomplete: false,
        found: Vec::new(),
    };
    walk.dir(root.as_fd(), &mut Vec::new());
    let Walk {
        mut found,
        incomplete,
        ..
    } = walk;
    found.sort_unstable();
    let truncated = send_files(root.as_fd(), &found, spec, out)? || incomplete;
    out.write_all(&[b'E', u8::from(truncated)])?;
    out.flush()
}

/// The walk of `/work`: candidate paths (not yet opened) that some pattern matches.
struct Walk<'a> {
    patterns: &'a [Pattern],
    visited: usize,
    /// The entry bound stopped the walk.
    incomplete: bool,
    found: Vec<String>,
}

impl Walk<'_> {
    /// Walks the directory `dir`, whose path is `prefix` (components).
    fn dir(&mut self, dir: BorrowedFd<'_>, prefix: &mut Vec<String>) {
        let budget = MAX_ENTRIES.saturating_sub(self.visited);
        let Ok((entries, complete)) = sys::read_dir(dir, budget) else {
            return;
        };
        self.incomplete |= !complete;
        self.visited += entries.len();
        for entry in entries {
            let Ok(name) = String::from_utf8(entry.name) else {
                continue;
            };
            prefix.push(name);
            let path = prefix.join("/");
            if check_relative_path(&path).as_deref() == Ok(path.as_str()) {
                self.entry(dir, entry.kind, path, prefix);
            }
            prefix.pop();
        }
    }

    fn entry(&mut self, dir: BorrowedFd<'_>, kind: u8, path: String, prefix: &mut Vec<String>) {
        match kind {
            libc::DT_DIR => {
                let names: Vec<&str> = prefix.iter().map(String::as_str).collect();
                let wanted = self.patterns.iter().any(|p| p.may_match_below(&names));
                if prefix.len() < MAX_PATH_DEPTH && wanted {
                    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
                    let name = prefix.last().map_or("", String::as_str);
                    if let Ok(sub) = open_beneath(dir, name, flags) {
                        self.dir(sub.as_fd(), prefix);
                    }
                }
            }
            // DT_UNKNOWN: the file system does not say (tmpfs always does); fstat decides.
            libc::DT_REG | libc::DT_UNKNOWN if self.patterns.iter().any(|p| p.matches(&path)) => {
                self.found.push(path);
            }
            _ => {} // symlinks, FIFOs, sockets, devices
        }
    }
}

/// Opens `relative` (a normalised relative path) beneath `dir` without following any link.
fn open_beneath(dir: BorrowedFd<'_>, relative: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
    const RESOLVE: u64 = libc::RESOLVE_BENEATH
        | libc::RESOLVE_NO_SYMLINKS
        | libc::RESOLVE_NO_MAGICLINKS
        | libc::RESOLVE_NO_XDEV;
    let flags = flags | libc::O_NOFOLLOW;
    match sys::openat2(dir, Path::new(relative), flags, RESOLVE) {
        Err(e) if e.errno() == Some(libc::ENOSYS) => open_per_component(dir, relative, flags),
        other => other.map_err(|e| e.source),
    }
}

/// Without `openat2`: one `openat(O_NOFOLLOW)` per component (each a plain name, never `..`).
fn open_per_component(
    dir: BorrowedFd<'_>,
    relative: &str,
    flags: libc::c_int,
) -> io::Result<OwnedFd> {
    let (parents, last) = relative.rsplit_once('/').unwrap_or(("", relative));
    let mut current: Option<OwnedFd> = None;
    for part in parents.split('/').filter(|p| !p.is_empty()) {
        let at = current.as_ref().map_or(dir, AsFd::as_fd);
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        current = Some(sys::openat(at, Path::new(part), flags).map_err(|e| e.source)?);
    }
    let at = current.as_ref().map_or(dir, AsFd::as_fd);
    sys::openat(at, Path::new(last), flags).map_err(|e| e.source)
}

/// Opens `path` if it is a regular file; its size.
fn open_regular(root: BorrowedFd<'_>, path: &str) -> Option<(File, u64)> {
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY;
    let file = File::from(open_beneath(root, path, flags).ok()?);
    let meta = file.metadata().ok()?;
    meta.file_type().is_file().then_some((file, meta.len()))
}

/// Sends the regular files among `found` (sorted) within the bounds; `true` if any was left
/// out by them.
fn send_files(
    root: BorrowedFd<'_>,
    found: &[String],
    spec: &OutputSpec,
    out: &mut impl Write,
) -> io::Result<bool> {
    let (mut count, mut total, mut truncated) = (0u32, 0u64, false);
    for path in found {
        let Some((file, size)) = open_regular(root, path) else {
            continue;
        };
        if count >= spec.max_files {
            return Ok(true);
        }
        if size > spec.max_bytes.saturating_sub(total) {
            truncated = true; // skipped; a smaller file after it may still fit
            continue;
        }
        let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(size).read_to_end(&mut content)?;
        write_record(out, path, &content)?;
        count += 1;
        total += content.len() as u64;
    }
    Ok(truncated)
}

fn write_record(out: &mut impl Write, path: &str, content: &[u8]) -> io::Result<()> {
    let mut head = Vec::with_capacity(13 + path.len());
    head.push(b'F');
    head.extend_from_slice(&(path.len() as u32).to_be_bytes());
    head.extend_from_slice(path.as_bytes());
    head.extend_from_slice(&(content.len() as u64).to_be_bytes());
    out.write_all(&head)?;
    out.write_all(content)
}

/// The most bytes init may send for `spec` (content bound plus record overhead).
pub(crate) fn wire_cap(spec: Option<&OutputSpec>) -> usize {
    let Some(spec) = spec else { return 2 };
    let files = u64::from(spec.max_files).min(MAX_ENTRIES as u64);
    let cap = spec.max_bytes + files * RECORD_OVERHEAD + 2;
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// Decodes what init sent: the files and whether some were left out, or `None` when the
/// stream is incomplete (init did not finish) or malformed.
pub(crate) fn decode(mut bytes: &[u8]) -> Option<(Vec<OutputFile>, bool)> {
    fn take<'b>(bytes: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
        let (head, rest) = (bytes.get(..n)?, bytes.get(n..)?);
        *bytes = rest;
        Some(head)
    }
    let mut files = Vec::new();
    loop {
        match take(&mut bytes, 1)? {
            [b'E'] => {
                let truncated = take(&mut bytes, 1)?[0] != 0;
                return bytes.is_empty().then_some((files, truncated));
            }
            [b'F'] => {
                let len = u32::from_be_bytes(take(&mut bytes, 4)?.try_into().ok()?);
                let path = std::str::from_utf8(take(&mut bytes, len as usize)?).ok()?;
                let size = u64::from_be_bytes(take(&mut bytes, 8)?.try_into().ok()?);
                let content = take(&mut bytes, usize::try_from(size).ok()?)?;
                files.push(OutputFile {
                    path: path.to_owned(),
                    content: content.to_vec(),
                });
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn spec(patterns: &[&str], max_files: u32, max_bytes: u64) -> OutputSpec {
        OutputSpec {
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            max_files,
            max_bytes,
        }
    }

    /// Collects from `root` and decodes what would go over the pipe.
    fn collected(root: &Path, spec: &OutputSpec) -> (Vec<(String, String)>, bool) {
        let mut wire = Vec::new();
        collect(root, spec, &mut wire).unwrap();
        assert!(
            wire.len() <= wire_cap(Some(spec)),
            "within the supervisor's cap"
        );
        let (files, truncated) = decode(&wire).expect("a complete stream");
        let files = files
            .into_iter()
            .map(|f| (f.path, String::from_utf8(f.content).unwrap()))
            .collect();
        (files, truncated)
    }

    fn write(root: &Path, path: &str, content: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn paths(files: &[(String, String)]) -> Vec<&str> {
        files.iter().map(|(p, _)| p.as_str()).collect()
    }

    #[test]
    fn matching_regular_files_come_back_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for p in [
            "out/b.txt",
            "out/a.txt",
            "out/sub/deep/c.txt",
            "out/x.bin",
            "r.log",
            "a.txt",
        ] {
            write(root, p, p);
        }
        let (files, truncated) = collected(root, &spec(&["out/**/*.txt", "*.log"], 10, 1 << 20));
        assert_eq!(
            paths(&files),
            ["out/a.txt", "out/b.txt", "out/sub/deep/c.txt", "r.log"]
        );
        assert_eq!(files[0].1, "out/a.txt");
        assert!(!truncated);
    }

    #[test]
    fn links_fifos_and_linked_directories_are_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "real/f.txt", "real");
        symlink("/etc/passwd", root.join("passwd.txt")).unwrap();
        symlink("/etc", root.join("etc")).unwrap();
        symlink("real", root.join("alias")).unwrap();
        symlink("real/f.txt", root.join("inner.txt")).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(root.join("pipe.txt"))
            .status()
            .unwrap();
        assert!(made.success());
        let (files, _) = collected(root, &spec(&["**"], 100, 1 << 20));
        assert_eq!(paths(&files), ["real/f.txt"]);
    }

    #[test]
    fn the_file_count_bound_leaves_the_rest_out_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        for p in ["a", "b", "c"] {
            write(dir.path(), p, "0123456789");
        }
        let (files, truncated) = collected(dir.path(), &spec(&["*"], 2, 1 << 20));
        assert_eq!((paths(&files), truncated), (vec!["a", "b"], true));
        let (files, truncated) = collected(dir.path(), &spec(&["*"], 3, 1 << 20));
        assert_eq!((files.len(), truncated), (3, false));
    }

    #[test]
    fn a_file_over_the_byte_bound_is_skipped_and_smaller_ones_after_it_still_come() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a", "0123456789");
        write(dir.path(), "b", "0123456789");
        write(dir.path(), "c", "012");
        let (files, truncated) = collected(dir.path(), &spec(&["*"], 10, 15));
        assert_eq!((paths(&files), truncated), (vec!["a", "c"], true));
    }

    #[test]
    fn paths_too_deep_or_not_utf8_are_not_considered() {
        let dir = tempfile::tempdir().unwrap();
        let deep = ["d"; MAX_PATH_DEPTH].join("/");
        write(dir.path(), &format!("{deep}/x"), "too deep");
        write(dir.path(), "d/ok", "ok");
        use std::os::unix::ffi::OsStrExt;
        let odd = std::ffi::OsStr::from_bytes(b"bad\xff");
        std::fs::write(dir.path().join(odd), "x").unwrap();
        let (files, _) = collected(dir.path(), &spec(&["**"], 100, 1 << 20));
        assert_eq!(paths(&files), ["d/ok"]);
    }

    #[test]
    fn an_incomplete_or_malformed_stream_decodes_to_nothing() {
        let mut wire = Vec::new();
        write_record(&mut wire, "a.txt", b"hello").unwrap();
        assert_eq!(decode(&wire), None, "no end record: init did not finish");
        wire.extend_from_slice(&[b'E', 0]);
        let (files, truncated) = decode(&wire).unwrap();
        assert_eq!(
            (files[0].path.as_str(), &files[0].content[..], truncated),
            ("a.txt", &b"hello"[..], false)
        );
        assert_eq!(decode(&wire[..wire.len() - 3]), None);
        wire.push(0);
        assert_eq!(decode(&wire), None, "trailing bytes");
    }

    #[test]
    fn the_spec_is_read_without_waiting_for_the_supervisor() {
        let (r, w) = sys::pipe().unwrap();
        assert_eq!(
            read_spec(File::from(r)),
            None,
            "nothing written, writer still open"
        );
        drop(w);
        let (r, w) = sys::pipe().unwrap();
        let s = spec(&["*.txt"], 1, 2);
        File::from(w)
            .write_all(&protocol::encode_frame(&s).unwrap())
            .unwrap();
        assert_eq!(read_spec(File::from(r)), Some(s));
        let (r, w) = sys::pipe().unwrap();
        File::from(w)
            .write_all(&protocol::encode_frame(&spec(&[], 1, 2)).unwrap())
            .unwrap();
        assert_eq!(
            read_spec(File::from(r)),
            None,
            "no patterns: nothing to collect"
        );
    }
}
