//! Skeletons ([`pyth_on_sandbox::rootfs::skeleton`]): a runner forked by the runner spawner
//! takes the read-only part of its root ready-made from the spawner's mount namespace and adds
//! the run's own mounts; other runners build the whole root. Needs root; CI runs as root.

#![allow(clippy::unwrap_used, reason = "test helpers panic on purpose")]

mod common;

use common::{privileged, py, run_forked, run_with_env};
use pyth_on_sandbox::protocol::Bind;

/// What a run sees of its `/etc` and root, one line each.
const LOOK: &str = r#"
import errno, os
print(os.readlink("/etc/passwd") if os.path.islink("/etc/passwd") else "file")
print([l for l in open("/etc/passwd") if l.startswith("sandbox:")][0].split(":")[2])
print(os.path.ismount("/etc/pyth-on"))
for path in ["/etc/hosts", "/etc/pyth-on/passwd", "/new"]:
    try:
        open(path, "a").close()
        print("wrote", path)
    except OSError as e:
        print(errno.errorcode[e.errno])
"#;

/// Unmounts its path when dropped (also when the test fails).
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn look_as(uid: u32) -> pyth_on_sandbox::protocol::JobSpec {
    let mut s = py(LOOK);
    s.sandbox.uid = uid;
    s.sandbox.gid = uid;
    s
}

#[test]
fn forked_runs_take_the_read_only_skeleton_and_each_names_its_own_uid() {
    privileged();
    for uid in [3_900_201, 3_900_202] {
        let r = run_forked(&look_as(uid));
        let expected = format!("pyth-on/passwd\n{uid}\nTrue\nEACCES\nEACCES\nEROFS\n");
        assert_eq!(r.stdout, expected, "{r:?}");
    }
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host.contains(pyth_on_sandbox::rootfs::skeleton::SKELETONS),
        "a skeleton is mounted on the host: {host}"
    );
}

#[test]
fn a_job_with_binds_of_its_own_and_an_execd_runner_build_their_whole_root_in_the_hosts_namespace() {
    privileged();
    // The bound directory is a file system mounted after the spawner started (as the server
    // mounts a package build's tmpfs): the host's mounts are private, so only a runner back in
    // the host's namespace sees it.
    run_forked(&look_as(3_900_205));
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(mounted.success());
    let _unmount = Unmount(dir.path().to_owned());
    std::fs::write(dir.path().join("marker"), "bound").unwrap();
    let mut bound = look_as(3_900_203);
    bound.binds.push(Bind::read_only(dir.path(), "/opt/bound"));
    bound
        .code
        .push_str("print(open('/opt/bound/marker').read())\n");
    let r = run_forked(&bound);
    assert!(r.stdout.starts_with("file\n3900203\nFalse\n"), "{r:?}");
    assert!(r.stdout.ends_with("bound\n"), "{r:?}");

    // An exec'd runner (an environment of its own is never forked) is in the host's namespace.
    let execd = run_with_env(&look_as(3_900_204), &[("PYTH_ON_TEST_UNUSED", "1")]).result;
    assert_eq!(
        execd.stdout, "file\n3900204\nFalse\nEACCES\nENOENT\nEROFS\n",
        "{execd:?}"
    );
}
