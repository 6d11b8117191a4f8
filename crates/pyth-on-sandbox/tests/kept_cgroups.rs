//! A run given a kept cgroup (`SandboxOptions::kept_cgroup`, leased by the launcher with its
//! per-run identity) uses that group: made once, emptied after each run, reused by the name's
//! next holder, and never handed to a run while anything is still inside. Needs root; CI runs
//! as root.

#![allow(clippy::unwrap_used, reason = "test helpers panic on purpose")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{privileged, py, run, run_in, Mode};

/// A run in kept group `ktest-<n>` (each test its own: the tests run at once).
fn spec_as(n: u32, code: &str) -> pyth_on_sandbox::protocol::JobSpec {
    let mut s = py(code);
    s.sandbox.kept_cgroup = Some(format!("ktest-{n}"));
    s
}

fn kept_groups(n: u32) -> Vec<PathBuf> {
    let name = format!("ktest-{n}");
    common::cgroups::named(|found| found == name)
}

fn procs(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("cgroup.procs")).unwrap()
}

fn remove(dirs: &[PathBuf]) {
    for d in dirs {
        let _ = std::fs::remove_dir(d);
    }
}

#[test]
fn a_kept_group_outlives_its_run_empty_and_an_earlier_oom_kill_is_not_the_next_runs() {
    privileged();
    let n = 1;
    remove(&kept_groups(n));
    let mut hog = spec_as(
        n,
        "chunks = []\nwhile True:\n    chunks.append(bytearray(8 << 20))",
    );
    hog.limits.memory_mb = 64;
    let first = run(&hog);
    assert!(first.memory_exceeded, "{first:?}");
    let kept = kept_groups(n);
    assert!(kept.len() >= 2, "memory and pids groups at least: {kept:?}");
    for dir in &kept {
        assert_eq!(procs(dir), "", "{} is left empty", dir.display());
    }
    let second = run(&spec_as(n, "print('after')"));
    assert_eq!(second.stdout, "after\n", "{second:?}");
    assert!(
        !second.memory_exceeded,
        "the first run's OOM kill: {second:?}"
    );
    assert_eq!(kept_groups(n), kept, "the same groups, reused");
    remove(&kept);
}

#[test]
fn a_kept_group_that_still_holds_a_process_is_not_given_to_a_run() {
    privileged();
    let n = 2;
    remove(&kept_groups(n));
    // The name's first run makes its groups; then a process lands in them, as a killed run's
    // last process would still be there.
    assert_eq!(run(&spec_as(n, "print(1)")).stdout, "1\n");
    let kept = kept_groups(n);
    let mut intruder = Command::new("sleep").arg("30").spawn().unwrap();
    for dir in &kept {
        std::fs::write(dir.join("cgroup.procs"), intruder.id().to_string()).unwrap();
    }
    let r = run(&spec_as(n, "print(2)"));
    assert_eq!(r.stdout, "2\n", "the run got a group of its own: {r:?}");
    assert!(
        intruder.try_wait().unwrap().is_none(),
        "the run's teardown killed a process that was not the run's"
    );
    for dir in &kept {
        assert_eq!(procs(dir).trim(), intruder.id().to_string());
    }
    intruder.kill().unwrap();
    intruder.wait().unwrap();
    // Leaving the group for the test's own (the root of each hierarchy) is not needed: a dead
    // process leaves it. The groups are now empty and can go.
    remove(&kept);
    assert_eq!(kept_groups(n), Vec::<PathBuf>::new());
}

#[test]
fn a_sandbox_with_a_leased_uid_prepared_at_low_priority_runs_its_job_at_normal_priority() {
    // With a kept group the uid is leased (the sandbox's alone): the release puts the run's
    // processes back to nice 0 by that uid (`setpriority(PRIO_USER)`), not by reading the
    // group's members.
    privileged();
    let code = "import os, subprocess\nprint(os.nice(0), subprocess.run(['nice'], capture_output=True, text=True).stdout.strip())";
    for (n, mode) in [
        (11, Mode::Prepared),
        (12, Mode::Prestarted),
        (13, Mode::Forked),
    ] {
        remove(&kept_groups(n));
        let mut spec = spec_as(n, code);
        (spec.sandbox.uid, spec.sandbox.gid) = (1_799_990_000 + n, 1_799_990_000 + n);
        let r = run_in(&spec, mode);
        assert_eq!(
            (r.stdout.as_str(), r.exit_code),
            ("0 0\n", 0),
            "{mode:?}: {}",
            r.stderr
        );
        remove(&kept_groups(n));
    }
}
