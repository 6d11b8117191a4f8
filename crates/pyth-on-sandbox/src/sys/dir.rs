//! Opening files beneath a directory without following links, and reading a directory from
//! its descriptor: what init's collection of output files needs
//! ([`crate::files::collect`]). Part of [`crate::sys`], under the same rules.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use super::{check, cpath, Result};

/// `openat(dir, path, flags | O_CLOEXEC)`.
pub fn openat(dir: BorrowedFd<'_>, path: &Path, flags: libc::c_int) -> Result<OwnedFd> {
    let c = cpath("openat", path)?;
    let raw = dir.as_raw_fd();
    let flags = flags | libc::O_CLOEXEC;
    // SAFETY: `c` is a NUL-terminated string that outlives the call; `raw` is borrowed.
    let ret = unsafe { libc::openat(raw, c.as_ptr(), flags) };
    let fd = check(ret.into(), "openat", || {
        format!("{raw}, {path:?}, {flags:#x}")
    })?;
    // SAFETY: the kernel returned a fresh descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `struct open_how` of `<linux/openat2.h>` (libc's is `non_exhaustive`).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(dir, path, {flags | O_CLOEXEC, 0, resolve})`: `ENOSYS` on kernels before 5.6.
pub fn openat2(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: libc::c_int,
    resolve: u64,
) -> Result<OwnedFd> {
    let c = cpath("openat2", path)?;
    let raw = dir.as_raw_fd();
    let flags = flags | libc::O_CLOEXEC;
    let how = OpenHow {
        flags: flags as u64,
        mode: 0,
        resolve,
    };
    // SAFETY: `c` is a NUL-terminated string and `how` a valid open_how of the size passed,
    // both outliving the call; `raw` is borrowed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            raw,
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    let fd = check(ret, "openat2", || {
        format!("{raw}, {path:?}, {{{flags:#x}, 0, {resolve:#x}}}")
    })?;
    // SAFETY: the kernel returned a fresh descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// One entry of a directory, as `getdents64` gives it (`.` and `..` left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name (never contains `/` or NUL).
    pub name: Vec<u8>,
    /// `DT_DIR`, `DT_REG`, `DT_LNK`, ... (`DT_UNKNOWN` where the file system does not say).
    pub kind: u8,
}

/// The entries of the open directory `dir` (`getdents64` until the end), at most `max`, and
/// whether that was all of them.
pub fn read_dir(dir: BorrowedFd<'_>, max: usize) -> Result<(Vec<DirEntry>, bool)> {
    let raw = dir.as_raw_fd();
    let mut buf = vec![0u8; 32 << 10];
    let mut out = Vec::new();
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                raw,
                buf.as_mut_ptr(),
                buf.len() as libc::c_uint,
            )
        };
        let n = check(ret, "getdents64", || format!("{raw}, buf, {}", buf.len()))? as usize;
        if n == 0 {
            return Ok((out, true));
        }
        if !parse_dirents(&buf[..n.min(buf.len())], &mut out, max) {
            return Ok((out, false));
        }
    }
}

/// Appends the `linux_dirent64` records of `buf` (`d_ino` u64, `d_off` i64, `d_reclen` u16,
/// `d_type` u8, then the NUL-terminated name) to `out`; `false` once `out` would pass `max`.
fn parse_dirents(buf: &[u8], out: &mut Vec<DirEntry>, max: usize) -> bool {
    let mut pos = 0;
    while pos + 19 <= buf.len() {
        let reclen = usize::from(u16::from_ne_bytes([buf[pos + 16], buf[pos + 17]]));
        let kind = buf[pos + 18];
        let end = (pos + reclen).min(buf.len());
        if reclen < 19 {
            break; // malformed: never from the kernel
        }
        let name = &buf[pos + 19..end];
        let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())];
        pos += reclen;
        if name == b"." || name == b".." {
            continue;
        }
        if out.len() >= max {
            return false;
        }
        out.push(DirEntry {
            name: name.to_vec(),
            kind,
        });
    }
    true
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn a_directory_is_read_without_dot_entries_and_within_a_bound() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a", "b", "c"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let fd = OwnedFd::from(std::fs::File::open(dir.path()).unwrap());
        let (mut entries, complete) = read_dir(fd.as_fd(), 100).unwrap();
        assert!(complete);
        entries.sort_by(|x, y| x.name.cmp(&y.name));
        let kinds: Vec<(&[u8], u8)> = entries.iter().map(|e| (&e.name[..], e.kind)).collect();
        assert_eq!(
            kinds,
            [
                (&b"a"[..], libc::DT_REG),
                (b"b", libc::DT_REG),
                (b"c", libc::DT_REG),
                (b"d", libc::DT_DIR)
            ]
        );
        let fd = OwnedFd::from(std::fs::File::open(dir.path()).unwrap());
        let (entries, complete) = read_dir(fd.as_fd(), 2).unwrap();
        assert_eq!((entries.len(), complete), (2, false));
    }

    #[test]
    fn openat2_refuses_to_follow_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("l")).unwrap();
        let fd = OwnedFd::from(std::fs::File::open(dir.path()).unwrap());
        let err = openat2(
            fd.as_fd(),
            Path::new("l"),
            libc::O_RDONLY,
            libc::RESOLVE_NO_SYMLINKS,
        )
        .unwrap_err();
        assert_eq!(err.errno(), Some(libc::ELOOP));
        let err = openat(
            fd.as_fd(),
            Path::new("l"),
            libc::O_RDONLY | libc::O_NOFOLLOW,
        )
        .unwrap_err();
        assert_eq!(err.errno(), Some(libc::ELOOP));
    }
}
