//! The runs' cgroup directories on this host, found the way the runner places them: under
//! `pyth-on` in the test's own group of each v1 hierarchy, or under the v2 root.

use std::path::PathBuf;

/// The `pyth-on` parent directories that exist (v1: memory, pids, cpu; v2: one).
pub fn parents() -> Vec<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mut found = Vec::new();
    for ctrl in ["memory", "pids", "cpu"] {
        let rel = own
            .lines()
            .find_map(|l| {
                let mut p = l.splitn(3, ':');
                let (_, c, path) = (p.next()?, p.next()?, p.next()?);
                c.split(',')
                    .any(|x| x == ctrl)
                    .then(|| path.trim_start_matches('/').to_owned())
            })
            .unwrap_or_default();
        found.push(PathBuf::from(format!(
            "/sys/fs/cgroup/{ctrl}/{rel}/pyth-on"
        )));
    }
    found.push(PathBuf::from("/sys/fs/cgroup/pyth-on"));
    found.sort();
    found.dedup();
    found.retain(|p| p.is_dir());
    found
}

/// The run groups whose name passes `wanted`, in every hierarchy.
pub fn named(wanted: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for base in parents() {
        if let Ok(rd) = std::fs::read_dir(&base) {
            dirs.extend(
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter(|e| wanted(&e.file_name().to_string_lossy()))
                    .map(|e| e.path()),
            );
        }
    }
    dirs
}

/// The groups runner `runner_pid` made for its runs (`<pid>-<nanos>`).
pub fn of_runner(runner_pid: i32) -> Vec<PathBuf> {
    let prefix = format!("{runner_pid}-");
    named(|n| n.starts_with(&prefix))
}
