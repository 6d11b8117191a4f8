//! Skeletons: the part of a run's root that is the same for every run of a profile, built
//! once per runner spawner instead of once per run.
//!
//! Building a root took 30-40 system calls per run (a tmpfs, 18 binds each remounted
//! read-only, directories, symlinks, `/etc` files): about 0.6 ms of a run's CPU. The runner
//! spawner now lives in a mount namespace of its own ([`own_namespace`]: a slave of the host's,
//! so the host sees none of its mounts; later host mounts reach it only where the host's are
//! shared, which is why a job that binds host paths goes back to the server's). Its runners
//! share that namespace, and the first one that needs a profile's skeleton builds it there
//! ([`for_job`], under a lock): a read-only tmpfs root with the profile's read-only binds,
//! `/etc` (`hosts`, `hostname`, and `passwd` and `group` as symlinks into `/etc/pyth-on`),
//! `/dev`, and the empty mount points of the run's own mounts, made private and moved into
//! place in one step (so a runner never sees half of one). A run's init is cloned into a copy
//! of that namespace, where the skeleton already is; it adds only what is the run's own
//! ([`fill`]) and `pivot_root`s into it.
//!
//! What runs share through it: the skeleton's root tmpfs (read-only, root-owned, holding only
//! the files above) and the same read-only binds every run had already. Each run still has its
//! own `/work`, `/tmp`, `/code`, `/proc` and `/etc/pyth-on`. docs/SECURITY.md, "Skeletons". A
//! runner that is not in the spawner's namespace (exec'd), and a job with binds of its own
//! (package environments, package builds), build their whole root as before, the
//! latter back in the host's namespace ([`leave_spawner_namespace`]).

use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::os::fd::AsFd;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{
    bind_read_only, code_file, host_files, identity_files, io_err, make_dev, mount_proc,
    root_tmpfs, scratch_tmpfs, sys_err, write_missing, Dirs, Result, MS_NODEV, MS_NOEXEC,
    MS_NOSUID, MS_RDONLY,
};
use crate::error::SysError;
use crate::protocol::JobSpec;
use crate::sys;

/// Where skeletons are mounted (in the spawner's namespace; on the host, empty directories).
pub const SKELETONS: &str = "/run/pyth-on/skeletons";

/// The per-run tmpfs that holds `passwd` and `group`, relative to the root.
const IDENTITY_DIR: &str = "etc/pyth-on";

/// The mount points of the run's own mounts, made empty in every skeleton.
const RUN_MOUNTS: &[&str] = &["work", "tmp", "code", "proc", IDENTITY_DIR];

/// This process is in the runner spawner's mount namespace (a forked runner inherits it).
static IN_SPAWNER_NAMESPACE: AtomicBool = AtomicBool::new(false);

/// `CAP_SYS_CHROOT`, which entering another mount namespace needs beside `CAP_SYS_ADMIN`.
const CAP_SYS_CHROOT: u32 = 18;

/// Called by the runner spawner before it forks any runner: moves it into a mount namespace
/// of its own, a slave of the host's. Skeletons are used only once this succeeded. Not without
/// `CAP_SYS_CHROOT` (a container may run without it): a runner could then not go back to the
/// server's namespace ([`leave_spawner_namespace`]), and every run builds its whole root.
pub fn own_namespace() -> std::result::Result<(), SysError> {
    if !sys::has_effective_capability(CAP_SYS_CHROOT) {
        return Ok(());
    }
    sys::unshare(libc::CLONE_NEWNS)?;
    sys::mount(
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_SLAVE,
        None,
    )?;
    IN_SPAWNER_NAMESPACE.store(true, Ordering::Relaxed);
    Ok(())
}

/// A runner in the spawner's namespace that builds its whole root goes back to the host's
/// first (the server's: the runner's parent), where everything the job binds is: the server
/// mounts some of it after the spawner started (a package build's tmpfs), and the host's
/// mounts are private, so they never reach the spawner's copy.
pub fn leave_spawner_namespace() -> std::result::Result<(), SysError> {
    if !IN_SPAWNER_NAMESPACE.load(Ordering::Relaxed) {
        return Ok(());
    }
    let path = format!("/proc/{}/ns/mnt", std::os::unix::process::parent_id());
    let host = File::open(&path).map_err(|e| SysError::from_io("open", path, e))?;
    sys::setns(host.as_fd(), libc::CLONE_NEWNS)?;
    IN_SPAWNER_NAMESPACE.store(false, Ordering::Relaxed);
    Ok(())
}

/// The skeleton for `spec`'s profile, built now if this namespace has none yet; `None` when
/// the run builds its whole root (see the module docs, or the build failed: the run then
/// builds its own and says nothing, the skeleton is tried again by the next run).
pub fn for_job(spec: &JobSpec) -> Option<PathBuf> {
    if !IN_SPAWNER_NAMESPACE.load(Ordering::Relaxed) || !spec.binds.is_empty() {
        return None;
    }
    let dir = Path::new(SKELETONS).join(format!("{:016x}", key(spec)));
    if is_mount_point(&dir) {
        return Some(dir);
    }
    let failed = dir.with_extension("failed");
    if failed_lately(&failed) {
        return None;
    }
    match build_once(spec, &dir) {
        Ok(()) => Some(dir),
        Err(_) => {
            // Marked, so that the runs of the next minute do not each try again under the
            // host-wide lock (they build their own roots meanwhile).
            let _ = File::create(&failed);
            None
        }
    }
}

/// How long after a failed build runs of that skeleton build their own roots.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

fn failed_lately(marker: &Path) -> bool {
    fs::metadata(marker)
        .and_then(|m| m.modified())
        .is_ok_and(|at| at.elapsed().is_ok_and(|age| age < RETRY_AFTER))
}

/// What makes two skeletons differ: the profile's read-only mounts and hostname, and what each
/// mount's host path is right now (device, inode, change time; or missing). A bind pins the
/// inode it was made from, so a host file replaced since (`ldconfig` renames a new
/// `ld.so.cache` into place, as package updates do) makes a new skeleton, as every run saw
/// the host's current files when each built its own root (13 `lstat`s, about 20 µs).
fn key(spec: &JobSpec) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&spec.ro_mounts, &spec.sandbox.hostname).hash(&mut h);
    for path in &spec.ro_mounts {
        fs::symlink_metadata(path)
            .ok()
            .map(|m| (m.dev(), m.ino(), m.ctime(), m.ctime_nsec()))
            .hash(&mut h);
    }
    h.finish()
}

/// A directory (not a symlink) another file system is mounted on, in this namespace.
fn is_mount_point(dir: &Path) -> bool {
    let parent = dir.parent().map(fs::symlink_metadata);
    let (Ok(here), Some(Ok(parent))) = (fs::symlink_metadata(dir), parent) else {
        return false;
    };
    here.is_dir() && here.dev() != parent.dev()
}

/// Builds the skeleton at `dir` unless another runner did meanwhile: under a lock shared by
/// every runner of the host, built beside `dir` and moved there whole.
fn build_once(spec: &JobSpec, dir: &Path) -> Result<()> {
    let base = Path::new(SKELETONS);
    fs::create_dir_all(base).map_err(io_err("mkdir", base))?;
    let lock_path = base.join(".lock");
    let lock = File::create(&lock_path).map_err(io_err("open", &lock_path))?;
    lock.lock().map_err(io_err("lock", &lock_path))?;
    if is_mount_point(dir) {
        return Ok(());
    }
    let building = dir.with_extension("build");
    for d in [dir, building.as_path()] {
        fs::create_dir_all(d).map_err(io_err("mkdir", d))?;
    }
    // What a runner killed mid-build left there.
    while is_mount_point(&building) {
        sys::umount2(&building, libc::MNT_DETACH).map_err(sys_err("detach"))?;
    }
    let source = building.to_string_lossy();
    let built = build(spec, &building).and_then(|()| {
        sys::mount(Some(&source), dir, None, libc::MS_MOVE, None).map_err(sys_err("move"))
    });
    if built.is_err() {
        let _ = sys::umount2(&building, libc::MNT_DETACH);
    }
    built
}

/// The skeleton on a fresh tmpfs at `root`, read-only and private when done.
fn build(spec: &JobSpec, root: &Path) -> Result<()> {
    root_tmpfs(root)?;
    let mut dirs = Dirs::new(root);
    bind_read_only(spec, root, &mut dirs)?;
    let etc = root.join("etc");
    write_missing(&etc, host_files(spec))?;
    for (name, _) in identity_files(spec) {
        let path = etc.join(name);
        if fs::symlink_metadata(&path).is_err() {
            let to = Path::new("pyth-on").join(name);
            symlink(&to, &path).map_err(io_err("symlink", &path))?;
        }
    }
    make_dev(root)?;
    for m in RUN_MOUNTS {
        let d = root.join(m);
        fs::create_dir_all(&d).map_err(io_err("mkdir", &d))?;
    }
    let read_only = libc::MS_BIND | libc::MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV;
    sys::mount(None, root, None, read_only, None).map_err(sys_err("skeleton read-only"))?;
    // Its binds were made from the spawner's slave mounts: cut them off from the host's
    // mount events, as a run's own binds are.
    let private = libc::MS_REC | libc::MS_PRIVATE;
    sys::mount(None, root, None, private, None).map_err(sys_err("skeleton private"))
}

/// In the run's init, on its copy of the skeleton at `root`: the run's own mounts. Returns the
/// program file, open for writing.
pub(super) fn fill(spec: &JobSpec, root: &Path) -> Result<File> {
    scratch_tmpfs(root, "work", spec, "0755")?;
    scratch_tmpfs(root, "tmp", spec, "1777")?;
    let code = code_file(root, spec)?;
    let ids = root.join(IDENTITY_DIR);
    sys::mount(
        Some("tmpfs"),
        &ids,
        Some("tmpfs"),
        MS_NOSUID | MS_NODEV | MS_NOEXEC,
        Some("size=64k,nr_inodes=8,mode=0755"),
    )
    .map_err(sys_err("identity tmpfs"))?;
    write_missing(&ids, identity_files(spec))?;
    let read_only = libc::MS_BIND | libc::MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    sys::mount(None, &ids, None, read_only, None).map_err(sys_err("identity read-only"))?;
    mount_proc(root)?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(ro: &Path) -> JobSpec {
        let mut spec = super::super::tests::spec(&[], Vec::new());
        spec.ro_mounts = vec![ro.to_owned()];
        spec.sandbox.hostname = "h".into();
        spec
    }

    #[test]
    fn a_host_file_replaced_since_makes_another_skeleton_and_an_untouched_one_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ld.so.cache");
        fs::write(&file, "old").unwrap();
        let first = key(&spec_with(&file));
        assert_eq!(key(&spec_with(&file)), first, "nothing changed");
        let next = dir.path().join("ld.so.cache.new");
        fs::write(&next, "new").unwrap();
        fs::rename(&next, &file).unwrap();
        assert_ne!(key(&spec_with(&file)), first, "replaced by a rename");
        let mut other_host = spec_with(&file);
        other_host.sandbox.hostname = "other".into();
        assert_ne!(key(&other_host), key(&spec_with(&file)));
    }

    #[test]
    fn a_failed_build_is_not_tried_again_for_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("x.failed");
        assert!(!failed_lately(&marker), "no marker");
        File::create(&marker).unwrap();
        assert!(failed_lately(&marker));
        let old = std::time::SystemTime::now() - RETRY_AFTER - std::time::Duration::from_secs(1);
        File::options()
            .write(true)
            .open(&marker)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(!failed_lately(&marker), "an old marker");
    }

    #[test]
    fn a_plain_directory_or_a_missing_path_is_not_a_mount_point() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_mount_point(dir.path()));
        assert!(!is_mount_point(&dir.path().join("missing")));
        assert!(is_mount_point(Path::new("/proc")), "procfs on /");
    }
}
