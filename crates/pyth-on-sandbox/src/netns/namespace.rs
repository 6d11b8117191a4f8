//! One network namespace the pool owns: made on the maker thread, its trace when new, the
//! files that trace is read from, and how a runner opens the one leased to it.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::trace::{Trace, TraceFiles};
use crate::error::SysError;
use crate::sys;

/// Where a run's init finds the network namespace leased to it: a descriptor of the
/// launcher's, by its `/proc` path, and the namespace's inode (checked once opened).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetnsRef {
    /// `/proc/<launcher pid>/fd/<n>`.
    pub path: PathBuf,
    /// The namespace's inode number (`/proc/self/ns/net` of a process in it).
    pub inode: u64,
}

/// One namespace the pool owns, with the files of its trace, and its trace when new.
#[derive(Debug)]
pub(super) struct Netns {
    fd: OwnedFd,
    inode: u64,
    files: TraceFiles,
    fresh: Trace,
}

impl Netns {
    /// Makes a namespace on the calling (maker) thread, then returns the thread to `home`.
    pub(super) fn create(loopback: bool, home: &OwnedFd) -> Result<Self, SysError> {
        sys::unshare(libc::CLONE_NEWNET)?;
        let made = Self::open_current(loopback);
        sys::setns(home.as_fd(), libc::CLONE_NEWNET)?;
        made
    }

    fn open_current(loopback: bool) -> Result<Self, SysError> {
        if loopback {
            sys::loopback_up()?;
            // Each CPU's copy of the route to `::1` exists from the first IPv6 lookup on that
            // CPU on (`getaddrinfo("localhost")` makes one) and is never dropped: made here, so
            // that such a lookup leaves the namespace as it was.
            sys::on_each_cpu(|| {
                if let Ok(udp) = std::net::UdpSocket::bind("[::1]:0") {
                    let _ = udp.connect("[::1]:9");
                }
            })?;
        }
        let (fd, inode) = open_own_netns()?;
        let files = TraceFiles::open_current()?;
        let fresh = files.read()?;
        Ok(Self {
            fd,
            inode,
            files,
            fresh,
        })
    }

    /// How a run's init finds it: by this process's descriptor of it.
    pub(super) fn reference(&self) -> NetnsRef {
        NetnsRef {
            path: format!("/proc/{}/fd/{}", std::process::id(), self.fd.as_raw_fd()).into(),
            inode: self.inode,
        }
    }

    /// Whether the namespace shows what it showed when new.
    pub(super) fn is_pristine(&self) -> Result<bool, SysError> {
        Ok(self.files.read()? == self.fresh)
    }
}

pub(super) fn open_own_netns() -> Result<(OwnedFd, u64), SysError> {
    open_with_inode(Path::new("/proc/thread-self/ns/net"))
}

/// Opens the namespace `r` names (in a runner, before init is cloned) and checks that it is
/// the one the launcher leased.
pub fn open(r: &NetnsRef) -> Result<OwnedFd, SysError> {
    let (fd, inode) = open_with_inode(&r.path)?;
    if inode != r.inode {
        let e = std::io::Error::other(format!("namespace inode {inode}, leased {}", r.inode));
        return Err(SysError::from_io("check", r.path.display().to_string(), e));
    }
    Ok(fd)
}

/// Opens a namespace file and reads its inode number.
fn open_with_inode(path: &Path) -> Result<(OwnedFd, u64), SysError> {
    let name = || path.display().to_string();
    let file = File::open(path).map_err(|e| SysError::from_io("open", name(), e))?;
    let meta = file.metadata();
    let inode = meta
        .map_err(|e| SysError::from_io("fstat", name(), e))?
        .ino();
    Ok((OwnedFd::from(file), inode))
}

#[cfg(test)]
mod cost {
    use super::*;

    /// What checking a namespace costs the checker thread: `cargo test --release -p
    /// pyth-on-sandbox --lib print_trace_cost -- --ignored --nocapture` (as root).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn print_trace_cost() {
        let (home, _) = open_own_netns().unwrap();
        let ns = Netns::create(true, &home).unwrap();
        for round in 0..3 {
            let t = std::time::Instant::now();
            for _ in 0..2000 {
                assert!(ns.is_pristine().unwrap());
            }
            println!(
                "round {round}: {:.1} us per check",
                t.elapsed().as_secs_f64() * 1e6 / 2000.0
            );
        }
    }
}
