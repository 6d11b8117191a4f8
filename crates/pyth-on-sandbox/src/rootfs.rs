//! The run's root file system, built by the sandbox's init inside its own mount namespace.
//!
//! Layout after [`enter`]:
//!
//! ```text
//! /            tmpfs (1 MiB), remounted read-only, nosuid, nodev
//! /usr, ...    read-only, nosuid, nodev binds of JobSpec::ro_mounts (symlinks such as
//!              /lib -> usr/lib are recreated as symlinks); JobSpec::binds likewise (a bind
//!              marked writable, a package build's output directory, stays read-write)
//! /etc         only what ro_mounts lists, plus generated passwd, group, hosts, hostname
//! /dev         null zero full random urandom (binds of the host nodes), fd/stdin/stdout/
//!              stderr symlinks into /proc/self/fd, shm -> /tmp
//! /proc        fresh procfs of the run's PID namespace, hidepid=2, nosuid nodev noexec
//! /work, /tmp  fresh tmpfs each, size- and inode-capped, nosuid nodev, owned by the run uid
//! /code        small tmpfs (root, 0755, nosuid nodev noexec) holding main.py / main.js, an
//!              empty root-owned 0644 file that init opens for writing: the payload writes the
//!              program through that descriptor just before exec (after decrypting it, for a
//!              ZK job), so the run's uid can read the program but never change it, and the
//!              working directory /work starts empty
//! ```
//!
//! No `/sys`. The host's root is detached after `pivot_root`, and everything vanishes with the
//! mount namespace when the run's last process exits: nothing is unmounted or walked on the host.
//! Binds are not recursive, so submounts of a bound path (which would keep their own, possibly
//! writable, flags) are not carried in.
//!
//! A runner forked by the runner spawner takes the part that is the same for every run of a
//! profile (the read-only root with its binds, `/etc` and `/dev`) ready-made from the
//! spawner's mount namespace ([`skeleton`]) and adds only the run's own mounts: `/work`,
//! `/tmp`, `/code`, `/proc`, and a tmpfs at `/etc/pyth-on` holding `passwd` and `group` (the
//! run's uid), to which `/etc/passwd` and `/etc/group` are symlinks there.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{symlink, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

pub mod skeleton;

use crate::error::{ChildError, SandboxError};
use crate::protocol::JobSpec;
use crate::sys;

const MS_RDONLY: libc::c_ulong = libc::MS_RDONLY;
const MS_NOSUID: libc::c_ulong = libc::MS_NOSUID;
const MS_NODEV: libc::c_ulong = libc::MS_NODEV;
const MS_NOEXEC: libc::c_ulong = libc::MS_NOEXEC;

/// Host paths every run needs read-only: the dynamic loader, libraries, `/usr` (where Debian's
/// python3 and node live), TLS roots, time zone and the alternatives links. Launchers add the
/// interpreter's own prefix when it lives elsewhere (e.g. a pyenv build).
pub const BASE_RO_MOUNTS: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/localtime",
    "/etc/alternatives",
    "/etc/nsswitch.conf",
];

/// Device nodes bound into `/dev`.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

type Result<T> = std::result::Result<T, ChildError>;

fn sys_err(step: &'static str) -> impl FnOnce(crate::error::SysError) -> ChildError {
    move |source| ChildError::Sys { step, source }
}

fn io_err<'p>(
    step: &'static str,
    path: &'p Path,
) -> impl FnOnce(std::io::Error) -> ChildError + 'p {
    move |source| ChildError::Io {
        step,
        path: path.to_owned(),
        source,
    }
}

/// Paths the sandbox owns; no job mount may land on or under them.
const RESERVED: &[&str] = &["/proc", "/dev", "/work", "/tmp", "/code"];

/// Checks that every path the job names is absolute, free of `.`/`..`, not `/`, and that no
/// mount lands on a reserved sandbox path.
pub fn validate(spec: &JobSpec) -> std::result::Result<(), SandboxError> {
    let plain = |p: &Path| {
        p.is_absolute()
            && p.components()
                .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
            // components() silently drops inner `.` and doubled slashes: insist on none.
            && p.as_os_str() == p.components().collect::<PathBuf>().as_os_str()
            && p != Path::new("/")
    };
    let sources = spec.binds.iter().map(|b| &b.host_src);
    let destinations = spec
        .ro_mounts
        .iter()
        .chain(spec.binds.iter().map(|b| &b.sandbox_dst));
    for p in sources.chain(destinations.clone()) {
        if !plain(p) {
            return Err(SandboxError::InvalidJob(format!(
                "mount path must be absolute, normalised and not '/': {}",
                p.display()
            )));
        }
    }
    for p in destinations {
        if RESERVED.iter().any(|r| p.starts_with(r)) {
            return Err(SandboxError::InvalidJob(format!(
                "{} is reserved for the sandbox",
                p.display()
            )));
        }
    }
    Ok(())
}

/// `root` + absolute `p`.
fn inside(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

/// The directories made so far in the new root (the root included): placing many paths
/// under one parent then costs one `mkdir`, not a `mkdir` and a `stat` each.
struct Dirs(HashSet<PathBuf>);

impl Dirs {
    fn new(root: &Path) -> Self {
        Dirs(HashSet::from([root.to_owned()]))
    }

    /// Creates `dir` and its missing parents, once.
    fn ensure(&mut self, dir: &Path) -> Result<()> {
        if self.0.contains(dir) {
            return Ok(());
        }
        fs::create_dir_all(dir).map_err(io_err("mkdir", dir))?;
        for d in dir.ancestors() {
            if !self.0.insert(d.to_owned()) {
                break;
            }
        }
        Ok(())
    }
}

/// What [`place`] found at the host path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placed {
    Missing,
    Symlink,
    Dir,
    File,
}

/// Makes `host` visible at `dst` (inside `root`), read-only unless `writable`: a symlink is
/// copied as a symlink, a directory or file is bound. Missing host paths are skipped.
fn place(root: &Path, dirs: &mut Dirs, host: &Path, dst: &Path, writable: bool) -> Result<Placed> {
    let Ok(meta) = fs::symlink_metadata(host) else {
        return Ok(Placed::Missing);
    };
    let target = inside(root, dst);
    if let Some(parent) = target.parent() {
        dirs.ensure(parent)?;
    }
    if meta.file_type().is_symlink() {
        let link = fs::read_link(host).map_err(io_err("readlink", host))?;
        symlink(&link, &target).map_err(io_err("symlink", &target))?;
        return Ok(Placed::Symlink);
    }
    let placed = if meta.is_dir() {
        dirs.ensure(&target)?;
        Placed::Dir
    } else {
        fs::write(&target, b"").map_err(io_err("mount point", &target))?;
        Placed::File
    };
    // The source of the bind must be the host path, not `dst`.
    sys::mount(
        Some(&host.to_string_lossy()),
        &target,
        None,
        libc::MS_BIND,
        None,
    )
    .map_err(sys_err("bind"))?;
    let read_only = if writable { 0 } else { MS_RDONLY };
    sys::mount(
        None,
        &target,
        None,
        libc::MS_BIND | libc::MS_REMOUNT | read_only | MS_NOSUID | MS_NODEV,
        None,
    )
    .map_err(sys_err("bind remount"))?;
    Ok(placed)
}

/// Is `p` inside a path we already bound as a directory?
fn covered(bound: &[PathBuf], p: &Path) -> bool {
    bound.iter().any(|b| p.starts_with(b))
}

/// `/etc/passwd` and `/etc/group`: root and the run's uid and gid.
fn identity_files(spec: &JobSpec) -> [(&'static str, String); 2] {
    let (uid, gid) = (spec.sandbox.uid, spec.sandbox.gid);
    [
        (
            "passwd",
            format!("root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{uid}:{gid}:sandbox:/work:/usr/sbin/nologin\n"),
        ),
        ("group", format!("root:x:0:\nsandbox:x:{gid}:\n")),
    ]
}

/// `/etc/hosts` and `/etc/hostname`, the same for every run of a profile.
fn host_files(spec: &JobSpec) -> [(&'static str, String); 2] {
    [
        ("hosts", "127.0.0.1 localhost\n::1 localhost\n".to_owned()),
        ("hostname", format!("{}\n", spec.sandbox.hostname)),
    ]
}

/// Writes each file into `dir` unless something (a bind) is already there.
fn write_missing(
    dir: &Path,
    files: impl IntoIterator<Item = (&'static str, String)>,
) -> Result<()> {
    fs::create_dir_all(dir).map_err(io_err("mkdir", dir))?;
    for (name, content) in files {
        let path = dir.join(name);
        if fs::symlink_metadata(&path).is_err() {
            fs::write(&path, content).map_err(io_err("write", &path))?;
        }
    }
    Ok(())
}

fn write_etc(root: &Path, spec: &JobSpec) -> Result<()> {
    let etc = root.join("etc");
    write_missing(&etc, identity_files(spec))?;
    write_missing(&etc, host_files(spec))
}

fn make_dev(root: &Path) -> Result<()> {
    let dev = root.join("dev");
    fs::create_dir_all(&dev).map_err(io_err("mkdir", &dev))?;
    for name in DEVICES {
        let host = Path::new("/dev").join(name);
        let target = dev.join(name);
        fs::write(&target, b"").map_err(io_err("mount point", &target))?;
        sys::mount(
            Some(&host.to_string_lossy()),
            &target,
            None,
            libc::MS_BIND,
            None,
        )
        .map_err(sys_err("bind device"))?;
        sys::mount(
            None,
            &target,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | MS_NOSUID | MS_NOEXEC,
            None,
        )
        .map_err(sys_err("bind device remount"))?;
    }
    for (name, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("shm", "/tmp"),
    ] {
        let p = dev.join(name);
        symlink(to, &p).map_err(io_err("symlink", &p))?;
    }
    Ok(())
}

fn scratch_tmpfs(root: &Path, dir: &str, spec: &JobSpec, mode: &str) -> Result<()> {
    let target = root.join(dir);
    fs::create_dir_all(&target).map_err(io_err("mkdir", &target))?;
    let l = &spec.limits;
    let data = format!(
        "size={}m,nr_inodes={},mode={mode},uid={},gid={}",
        l.tmpfs_size_mb.max(1),
        l.tmpfs_inodes.max(16),
        spec.sandbox.uid,
        spec.sandbox.gid
    );
    sys::mount(
        Some("tmpfs"),
        &target,
        Some("tmpfs"),
        MS_NOSUID | MS_NODEV,
        Some(&data),
    )
    .map_err(sys_err("tmpfs"))
}

/// Mounts the `/code` tmpfs and creates the (empty) program file; returns it opened for
/// writing (close-on-exec). The payload fills it just before exec.
fn code_file(root: &Path, spec: &JobSpec) -> Result<File> {
    let dir = root.join("code");
    fs::create_dir_all(&dir).map_err(io_err("mkdir", &dir))?;
    let data = format!(
        "size={}m,nr_inodes=16,mode=0755",
        spec.limits.tmpfs_size_mb.max(1)
    );
    sys::mount(
        Some("tmpfs"),
        &dir,
        Some("tmpfs"),
        MS_NOSUID | MS_NODEV | MS_NOEXEC,
        Some(&data),
    )
    .map_err(sys_err("code tmpfs"))?;
    let main = inside(root, Path::new(spec.language.main_file()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&main)
        .map_err(io_err("create program file", &main))
}

/// Size of the `/code` tmpfs in bytes: the largest program a run accepts.
pub fn code_limit(spec: &JobSpec) -> usize {
    usize::try_from(spec.limits.tmpfs_size_mb.max(1) << 20).unwrap_or(usize::MAX)
}

/// Where a run's root comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// Built on a fresh tmpfs at this host directory, inside the run's mount namespace.
    Build(PathBuf),
    /// The skeleton at this path of the runner spawner's mount namespace ([`skeleton`]),
    /// copied into the run's namespace with it: only the run's own mounts are added.
    Skeleton(PathBuf),
}

/// Makes the run's root (see [`Root`]), creates the program file, mounts `/proc`, and
/// `pivot_root`s into it. Must run as root in fresh mount and PID namespaces. On return the
/// cwd is `/work` and the old root is gone; the returned descriptor is the program file, open
/// for writing.
pub fn enter(spec: &JobSpec, root: &Root) -> Result<File> {
    // Nothing we mount may propagate back to the host (nor to the spawner's namespace).
    sys::mount(
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )
    .map_err(sys_err("make / private"))?;
    let (new_root, code) = match root {
        Root::Build(dir) => (dir, build(spec, dir)?),
        Root::Skeleton(dir) => (dir, skeleton::fill(spec, dir)?),
    };
    pivot_into(new_root)?;
    Ok(code)
}

/// The small tmpfs a root is built on (a run's own, or a skeleton's).
fn root_tmpfs(root: &Path) -> Result<()> {
    sys::mount(
        Some("tmpfs"),
        root,
        Some("tmpfs"),
        MS_NOSUID | MS_NODEV,
        Some("size=1m,nr_inodes=4096,mode=0755"),
    )
    .map_err(sys_err("root tmpfs"))
}

/// The whole tree on a fresh tmpfs at `new_root`, the program file made.
fn build(spec: &JobSpec, new_root: &Path) -> Result<File> {
    root_tmpfs(new_root)?;
    let mut dirs = Dirs::new(new_root);
    bind_read_only(spec, new_root, &mut dirs)?;
    for b in &spec.binds {
        place(new_root, &mut dirs, &b.host_src, &b.sandbox_dst, b.writable)?;
    }
    write_etc(new_root, spec)?;
    make_dev(new_root)?;
    scratch_tmpfs(new_root, "work", spec, "0755")?;
    scratch_tmpfs(new_root, "tmp", spec, "1777")?;
    let code = code_file(new_root, spec)?;
    mount_proc(new_root)?;
    Ok(code)
}

/// The host's read-only mounts, shallowest first, each skipped when a directory bound
/// before already holds it.
fn bind_read_only(spec: &JobSpec, new_root: &Path, dirs: &mut Dirs) -> Result<()> {
    let mut mounts: Vec<&Path> = spec.ro_mounts.iter().map(PathBuf::as_path).collect();
    mounts.sort_by_key(|p| p.components().count());
    let mut bound: Vec<PathBuf> = Vec::new();
    for p in mounts {
        if covered(&bound, p) {
            continue;
        }
        if place(new_root, dirs, p, p, false)? == Placed::Dir {
            bound.push(p.to_owned());
        }
    }
    Ok(())
}

/// A fresh `/proc` of the run's PID namespace, other users' processes hidden.
fn mount_proc(new_root: &Path) -> Result<()> {
    let proc_dir = new_root.join("proc");
    fs::create_dir_all(&proc_dir).map_err(io_err("mkdir", &proc_dir))?;
    sys::mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        MS_NOSUID | MS_NODEV | MS_NOEXEC,
        Some("hidepid=2"),
    )
    .map_err(sys_err("mount /proc"))
}

/// `pivot_root` into `new_root`, the old root detached, `/` read-only, cwd `/work`.
fn pivot_into(new_root: &Path) -> Result<()> {
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching "." then
    // removes the old root without needing a put_old directory.
    std::env::set_current_dir(new_root).map_err(io_err("chdir", new_root))?;
    sys::pivot_root(Path::new("."), Path::new(".")).map_err(sys_err("pivot_root"))?;
    sys::umount2(Path::new("."), libc::MNT_DETACH).map_err(sys_err("detach old root"))?;
    std::env::set_current_dir("/").map_err(io_err("chdir", Path::new("/")))?;
    sys::mount(
        None,
        Path::new("/"),
        None,
        libc::MS_BIND | libc::MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
        None,
    )
    .map_err(sys_err("remount / read-only"))?;
    std::env::set_current_dir("/work").map_err(io_err("chdir", Path::new("/work")))
}

#[cfg(test)]
mod tests;
