//! Control groups for runs: one trait, a cgroup v1 and a cgroup v2 backend.
//!
//! A run gets its own group (v2) or its own group in each of the memory, pids and (when mounted)
//! cpu hierarchies (v1), named `<parent>/<run-name>`. The supervisor creates it and writes the
//! limits; the sandboxed child joins it by writing `0` into the `cgroup.procs` files the
//! supervisor opened for it ([`RunCgroup::procs_files`]), before any untrusted code exists.
//!
//! Where the parent lives:
//! - **v2**: `<root>/<parent>` (the unified tree forbids controllers on groups that hold
//!   processes, so runs cannot nest under the server's own group).
//! - **v1**: `<root>/<controller>/<own group>/<parent>`, i.e. under the group the runner itself
//!   is in for that controller. v1 allows that, and it keeps runs inside whatever limits the
//!   operator put on the service.
//!
//! Detection ([`detect`]): v2 when `<root>/cgroup.controllers` lists `memory` and `pids`,
//! otherwise v1 when the memory and pids hierarchies are mounted. On this machine (v1 with an
//! empty v2 mount at `/sys/fs/cgroup/unified`) that picks v1.
//!
//! Every file access is relative to a root path, so the formats are unit-tested against a
//! temporary directory.

mod v1;
mod v2;

use std::fmt::Debug;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use v1::V1;
pub use v2::V2;

use crate::error::CgroupError;
use crate::sys;

type Result<T> = std::result::Result<T, CgroupError>;

/// Default mount point of cgroupfs.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// Limits written into a run's cgroup.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupLimits {
    /// Memory limit in bytes; swap is disabled on top of it.
    pub memory_bytes: u64,
    /// Maximum number of tasks.
    pub pids_max: u64,
    /// CPU quota in CPUs (e.g. 1.0); `None` or non-positive leaves CPU unlimited.
    pub cpu_quota: Option<f64>,
}

/// CFS period used for the CPU quota, in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;

impl CgroupLimits {
    /// Quota in microseconds per [`CPU_PERIOD_US`], if any.
    pub fn cpu_quota_us(&self) -> Option<u64> {
        self.cpu_quota
            .filter(|q| *q > 0.0 && q.is_finite())
            .map(|q| ((q * CPU_PERIOD_US as f64) as u64).max(1000))
    }
}

/// A cgroup hierarchy that can create per-run groups.
pub trait Cgroups: Debug + Send + Sync {
    /// `"v1"` or `"v2"`.
    fn version(&self) -> &'static str;

    /// Creates `<parent>/<name>` (in every hierarchy used) and writes the limits.
    fn create(&self, parent: &str, name: &str, limits: &CgroupLimits)
        -> Result<Box<dyn RunCgroup>>;

    /// Opens `<parent>/<name>` as a group **kept** across runs ([`RunCgroup::kept`]: emptied
    /// at teardown, not removed), for a name that only one live sandbox holds at a time (the
    /// launcher leases it). Created where missing; where it exists it must be empty in every
    /// hierarchy ([`CgroupError::NotEmpty`] otherwise), its limits and CPU weight are written
    /// again, and its OOM-kill count so far is the run's baseline. The launcher's names start
    /// with its own pid (`<pid>-k<tag>-<n>`), so the stale sweep removes them, empty, once
    /// the server is gone.
    fn open_kept(
        &self,
        parent: &str,
        name: &str,
        limits: &CgroupLimits,
    ) -> Result<Box<dyn RunCgroup>>;

    /// Removes empty run groups under `parent` whose runner (the pid before the first `-` of
    /// the name) no longer exists: leftovers of a runner that was SIGKILLed. Kept groups
    /// ([`Cgroups::open_kept`]) are not touched.
    fn remove_stale(&self, parent: &str) -> Result<usize>;
}

/// One run's cgroup (in one or several hierarchies).
pub trait RunCgroup: Debug + Send {
    /// The `cgroup.procs` files the child must write `0` to, one per hierarchy.
    fn procs_files(&self) -> Vec<PathBuf>;

    /// The file that gives the group's memory use in bytes (`memory.usage_in_bytes` on v1,
    /// `memory.current` on v2).
    fn memory_usage_file(&self) -> PathBuf;

    /// Did the memory controller OOM-kill a process of this run (a kept group: since it was
    /// opened for this run)?
    fn oom_killed(&self) -> Result<bool>;

    /// How many processes of this group the memory controller OOM-killed so far (a session
    /// compares it before and after each cell).
    fn oom_kills(&self) -> Result<u64>;

    /// A group kept for the next run of the same name: [`destroy`] empties it and leaves it.
    fn kept(&self) -> bool {
        false
    }

    /// Host pids currently in the group (union over hierarchies).
    fn pids(&self) -> Result<Vec<i32>>;

    /// Host pids in the group as one hierarchy lists them: every process of a run is in all
    /// of them (it joined each at once and cannot leave), so this is [`RunCgroup::pids`] for
    /// one file read instead of one per hierarchy, where a process in the middle of being
    /// forked may be missed (fine for a priority change, not for a kill).
    fn members(&self) -> Result<Vec<i32>> {
        self.pids()
    }

    /// Sends SIGKILL to everything in the group (one round).
    fn kill_all(&self) -> Result<()>;

    /// The group directories, for tests and logs.
    fn dirs(&self) -> Vec<PathBuf>;

    /// Removes the (empty) group directories.
    fn remove_dirs(&self) -> Result<()>;

    /// Changes the memory limit (swap stays off): a prepared sandbox gets its job's limit
    /// just before the job is released into it.
    fn set_memory(&self, bytes: u64) -> Result<()>;

    /// Sets the group's CPU weight against other groups (no-op without a cpu controller): a
    /// session is [`CpuWeight::Idle`] between cells, so what it runs in the background only
    /// gets CPU time nothing else wants, and [`CpuWeight::Normal`] while a cell runs.
    fn set_cpu_weight(&self, weight: CpuWeight) -> Result<()>;
}

/// A group's share of CPU time when groups compete (its quota stays as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuWeight {
    /// The least share (v1 `cpu.shares` 2, v2 `cpu.weight` 1).
    Idle,
    /// The default share (v1 1024, v2 100).
    Normal,
}

/// Kills every process in the group until it is empty (at most `deadline`), then removes it
/// (a kept group stays, empty).
pub fn destroy(cg: &dyn RunCgroup, deadline: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        let pids = cg.pids()?;
        if pids.is_empty() {
            break;
        }
        if start.elapsed() > deadline {
            return Err(CgroupError::NotEmpty {
                path: cg.dirs().into_iter().next().unwrap_or_default(),
                pids,
            });
        }
        cg.kill_all()?;
        std::thread::sleep(Duration::from_micros(500));
    }
    if cg.kept() {
        return Ok(());
    }
    // An exiting task can keep the directory busy for a moment after leaving cgroup.procs.
    let mut last = None;
    for _ in 0..200 {
        match cg.remove_dirs() {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
        if start.elapsed() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(last.unwrap_or_else(|| CgroupError::Unavailable("rmdir never attempted".into())))
}

/// Picks the backend available under `root` (normally [`DEFAULT_ROOT`]).
pub fn detect(root: &Path) -> Result<Box<dyn Cgroups>> {
    if let Some(v2) = V2::probe(root)? {
        return Ok(Box::new(v2));
    }
    let own = fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| CgroupError::io("read", "/proc/self/cgroup", e))?;
    if let Some(v1) = V1::probe(root, &own)? {
        return Ok(Box::new(v1));
    }
    Err(CgroupError::Unavailable(format!(
        "{} has neither a v2 tree with memory+pids nor v1 memory and pids hierarchies",
        root.display()
    )))
}

/// What [`detected`] found, once per process.
static DETECTED: OnceLock<Box<dyn Cgroups>> = OnceLock::new();

/// [`detect`] under [`DEFAULT_ROOT`], once per process: the runner spawner asks before it
/// forks, so the runners it forks start with the answer instead of probing the hierarchies
/// and reading `/proc/self/cgroup` again (a failure is not remembered).
pub fn detected() -> Result<&'static dyn Cgroups> {
    if let Some(found) = DETECTED.get() {
        return Ok(found.as_ref());
    }
    let found = detect(Path::new(DEFAULT_ROOT))?;
    Ok(DETECTED.get_or_init(|| found).as_ref())
}

/// A run name that is unique on this host: `<runner pid>-<nanoseconds>`.
pub fn run_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos}", sys::getpid())
}

/// A kept group that an earlier run left, checked before a run gets it: its OOM-kill count so
/// far (the run's baseline), or [`CgroupError::NotEmpty`] (`path` in the error) while any
/// process is still inside.
pub(crate) fn idle_baseline(group: &dyn RunCgroup, path: &Path) -> Result<u64> {
    let pids = group.pids()?;
    if !pids.is_empty() {
        return Err(CgroupError::NotEmpty {
            path: path.to_owned(),
            pids,
        });
    }
    group.oom_kills()
}

/// Makes `dir` under `base/parent`: the parent is only made (once) when it is missing.
/// `Ok(false)` when `dir` already existed and `existing_ok`.
pub(crate) fn make_group_dir(
    base: &Path,
    parent: &str,
    dir: &Path,
    existing_ok: bool,
) -> Result<bool> {
    let make = || match fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if existing_ok && e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    };
    let made = match make() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            ensure_dir(&base.join(parent))?;
            make()
        }
        first => first,
    };
    made.map_err(|e| CgroupError::io("mkdir", dir, e))
}

/// Refuses names that are not a single, plain path component.
pub(crate) fn check_component(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(CgroupError::Unavailable(format!(
            "invalid cgroup name {name:?}"
        )))
    }
}

/// Writes `content` to a control file. cgroupfs files always exist; `create` only matters for
/// the temporary-directory tests, and `O_TRUNC` is ignored by cgroupfs.
pub(crate) fn write_file(path: &Path, content: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| CgroupError::io("open", path, e))?;
    f.write_all(content.as_bytes())
        .map_err(|e| CgroupError::io("write", path, e))
}

pub(crate) fn read_file(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| CgroupError::io("read", path, e))
}

/// `mkdir` that accepts an existing directory.
pub(crate) fn ensure_dir(path: &Path) -> Result<()> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(CgroupError::io("mkdir", path, e)),
    }
}

/// Parses `cgroup.procs`: one decimal pid per line.
pub(crate) fn parse_pids(path: &Path, content: &str) -> Result<Vec<i32>> {
    content
        .split_whitespace()
        .map(|s| {
            s.parse().map_err(|_| CgroupError::Parse {
                path: path.to_owned(),
                content: content.chars().take(200).collect(),
            })
        })
        .collect()
}

/// Reads the value of `key` from a flat-keyed file (`key value` per line).
pub(crate) fn keyed_value(path: &Path, content: &str, key: &str) -> Result<Option<u64>> {
    for line in content.lines() {
        let mut it = line.split_whitespace();
        if it.next() == Some(key) {
            let v = it
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| CgroupError::Parse {
                    path: path.to_owned(),
                    content: line.to_owned(),
                })?;
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// SIGKILLs each pid that is still in `cg` once we hold a pidfd for it, so a recycled pid that
/// now belongs to some other host process is never signalled.
pub(crate) fn kill_pids_checked(procs_file: &Path, pids: &[i32]) -> Result<()> {
    for &pid in pids {
        let Ok(pidfd) = sys::pidfd_open(pid) else {
            continue; // already gone
        };
        // The pidfd pins the pid number; if it is still listed now, it is ours.
        let still_ours = parse_pids(procs_file, &read_file(procs_file)?)?.contains(&pid);
        if still_ours {
            use std::os::fd::AsFd;
            match sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL) {
                Ok(()) => {}
                Err(e) if e.errno() == Some(libc::ESRCH) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Shared by both backends: remove empty `<runner pid>-*` groups whose runner is dead.
pub(crate) fn remove_stale_in(parent_dir: &Path) -> Result<usize> {
    let Ok(entries) = fs::read_dir(parent_dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        // The live runner's check first (one `kill(pid, 0)`); the directory test then comes
        // from the listing itself, without a `stat` of each group.
        if sys::process_exists(pid) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        // rmdir fails (EBUSY) if processes are still inside: then it is not stale.
        if fs::remove_dir(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quota_is_expressed_per_hundred_millisecond_period() {
        let mut l = CgroupLimits {
            memory_bytes: 1,
            pids_max: 1,
            cpu_quota: Some(1.5),
        };
        assert_eq!(l.cpu_quota_us(), Some(150_000));
        l.cpu_quota = Some(0.0);
        assert_eq!(l.cpu_quota_us(), None);
    }

    #[test]
    fn cgroup_names_must_be_one_plain_component() {
        assert!(check_component("pyth-on").is_ok());
        assert!(check_component("123-456").is_ok());
        for bad in ["", "..", "a/b", "a b", "x\n"] {
            assert!(check_component(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn flat_keyed_files_are_parsed_by_key() {
        let p = Path::new("memory.events");
        let s = "low 0\nhigh 0\nmax 5\noom 1\noom_kill 2\n";
        assert_eq!(keyed_value(p, s, "oom_kill").unwrap(), Some(2));
        assert_eq!(keyed_value(p, s, "missing").unwrap(), None);
        assert!(keyed_value(p, "oom_kill x", "oom_kill").is_err());
    }

    #[test]
    fn procs_files_list_one_pid_per_line() {
        let p = Path::new("cgroup.procs");
        assert_eq!(parse_pids(p, "12\n34\n").unwrap(), vec![12, 34]);
        assert_eq!(parse_pids(p, "").unwrap(), Vec::<i32>::new());
        assert!(parse_pids(p, "12\nabc\n").is_err());
    }

    #[test]
    fn stale_groups_of_dead_runners_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join(format!("{}-1", sys::getpid()));
        // pid_max is at most 4194304, so this pid cannot exist.
        let dead = dir.path().join("99999999-1");
        fs::create_dir(&live).unwrap();
        fs::create_dir(&dead).unwrap();
        assert_eq!(remove_stale_in(dir.path()).unwrap(), 1);
        assert!(live.exists());
        assert!(!dead.exists());
    }
}
