//! cgroup v1 backend: separate memory, pids and (optional) cpu hierarchies.
//!
//! Files written per run:
//! - `memory.limit_in_bytes` = limit, then `memory.memsw.limit_in_bytes` = the same limit when
//!   the kernel has swap accounting (so no swap on top), and `memory.swappiness` = 0.
//! - `pids.max`.
//! - `cpu.cfs_period_us` / `cpu.cfs_quota_us` when the cpu hierarchy is mounted.
//!
//! OOM detection reads `memory.oom_control` (`oom_kill N`, and `under_oom 1`). v1 has no
//! `cgroup.kill` and no group OOM kill; teardown SIGKILLs every pid in `cgroup.procs`
//! (checked through a pidfd) until the group is empty. In practice the group is already empty
//! by then: killing the run's PID-namespace init makes the kernel kill the whole namespace.

use std::path::{Path, PathBuf};

use super::{
    check_component, idle_baseline, keyed_value, kill_pids_checked, make_group_dir, parse_pids,
    read_file, remove_stale_in, write_file, CgroupLimits, Cgroups, Result, RunCgroup,
};
use crate::error::CgroupError;

/// The v1 hierarchies used for runs. Each path is the directory under which `<parent>` lives.
#[derive(Debug, Clone)]
pub struct V1 {
    memory: PathBuf,
    pids: PathBuf,
    cpu: Option<PathBuf>,
}

impl V1 {
    /// Builds the backend from the cgroupfs `root` and the runner's `/proc/self/cgroup`.
    /// `None` when the memory or pids hierarchy is missing.
    pub fn probe(root: &Path, proc_self_cgroup: &str) -> Result<Option<Self>> {
        let base = |ctrl: &str| -> Option<PathBuf> {
            let mount = root.join(ctrl);
            if !mount.join("cgroup.procs").exists() {
                return None;
            }
            let own = own_path(proc_self_cgroup, ctrl).unwrap_or_default();
            Some(mount.join(own.trim_start_matches('/')))
        };
        let (Some(memory), Some(pids)) = (base("memory"), base("pids")) else {
            return Ok(None);
        };
        Ok(Some(Self {
            memory,
            pids,
            cpu: base("cpu"),
        }))
    }

    /// Uses explicit hierarchy directories (tests).
    pub fn with_dirs(memory: PathBuf, pids: PathBuf, cpu: Option<PathBuf>) -> Self {
        Self { memory, pids, cpu }
    }
}

/// The group of `ctrl` in `/proc/self/cgroup` (`N:ctrl,ctrl2:/path`).
fn own_path(proc_self_cgroup: &str, ctrl: &str) -> Option<String> {
    proc_self_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        ctrls.split(',').any(|c| c == ctrl).then(|| path.to_owned())
    })
}

impl Cgroups for V1 {
    fn version(&self) -> &'static str {
        "v1"
    }

    fn create(
        &self,
        parent: &str,
        name: &str,
        limits: &CgroupLimits,
    ) -> Result<Box<dyn RunCgroup>> {
        let mut run = self.run_in(parent, name, limits)?;
        for (base, dir) in self.hierarchies(&run) {
            make_group_dir(base, parent, &dir, false)?;
            run.created.push(dir);
        }
        // From here on, a failure must not leave directories behind.
        if let Err(e) = run.write_limits(limits, false) {
            let _ = run.remove_dirs();
            return Err(e);
        }
        Ok(Box::new(run))
    }

    fn open_kept(
        &self,
        parent: &str,
        name: &str,
        limits: &CgroupLimits,
    ) -> Result<Box<dyn RunCgroup>> {
        let mut run = self.run_in(parent, name, limits)?;
        run.kept = true;
        let mut existed = false;
        for (base, dir) in self.hierarchies(&run) {
            existed |= !make_group_dir(base, parent, &dir, true)?;
            run.created.push(dir);
        }
        if existed {
            run.oom_base = idle_baseline(&run, &run.memory)?;
        }
        run.write_limits(limits, true)?;
        Ok(Box::new(run))
    }

    fn remove_stale(&self, parent: &str) -> Result<usize> {
        check_component(parent)?;
        let mut n = remove_stale_in(&self.memory.join(parent))?;
        n += remove_stale_in(&self.pids.join(parent))?;
        if let Some(cpu) = &self.cpu {
            n += remove_stale_in(&cpu.join(parent))?;
        }
        Ok(n)
    }
}

impl V1 {
    /// The run's group paths (the cpu one only with a quota and a cpu hierarchy), none made.
    fn run_in(&self, parent: &str, name: &str, limits: &CgroupLimits) -> Result<V1Run> {
        check_component(parent)?;
        check_component(name)?;
        let cpu = match limits.cpu_quota_us() {
            Some(_) => self.cpu.as_ref().map(|c| c.join(parent).join(name)),
            None => None,
        };
        Ok(V1Run {
            memory: self.memory.join(parent).join(name),
            pids: self.pids.join(parent).join(name),
            cpu,
            created: Vec::new(),
            kept: false,
            oom_base: 0,
        })
    }

    /// Each hierarchy's base directory beside the run's group in it.
    fn hierarchies(&self, run: &V1Run) -> Vec<(&Path, PathBuf)> {
        let mut dirs = vec![
            (self.memory.as_path(), run.memory.clone()),
            (self.pids.as_path(), run.pids.clone()),
        ];
        if let (Some(base), Some(dir)) = (&self.cpu, &run.cpu) {
            dirs.push((base.as_path(), dir.clone()));
        }
        dirs
    }
}

/// One run's groups in the v1 hierarchies.
#[derive(Debug)]
struct V1Run {
    memory: PathBuf,
    pids: PathBuf,
    cpu: Option<PathBuf>,
    created: Vec<PathBuf>,
    /// Kept for the next run of the same name ([`Cgroups::open_kept`]).
    kept: bool,
    /// `oom_kill` of `memory.oom_control` when the run got the group.
    oom_base: u64,
}

impl V1Run {
    /// Writes the limits; `again` on a kept group, which an earlier run may have left in some
    /// hierarchies: the memory limit then in the order the kernel accepts against the swap
    /// limit there, and the CPU weight back to normal (a session may have left it idle).
    fn write_limits(&self, limits: &CgroupLimits, again: bool) -> Result<()> {
        if again {
            self.set_memory(limits.memory_bytes)?;
        } else {
            let bytes = limits.memory_bytes.to_string();
            write_file(&self.memory.join("memory.limit_in_bytes"), &bytes)?;
            let memsw = self.memory.join("memory.memsw.limit_in_bytes");
            if memsw.exists() {
                write_file(&memsw, &bytes)?;
            }
        }
        let swappiness = self.memory.join("memory.swappiness");
        if swappiness.exists() {
            write_file(&swappiness, "0")?;
        }
        write_file(&self.pids.join("pids.max"), &limits.pids_max.to_string())?;
        if let (Some(cpu), Some(quota)) = (&self.cpu, limits.cpu_quota_us()) {
            write_file(
                &cpu.join("cpu.cfs_period_us"),
                &super::CPU_PERIOD_US.to_string(),
            )?;
            write_file(&cpu.join("cpu.cfs_quota_us"), &quota.to_string())?;
            if again {
                self.set_cpu_weight(super::CpuWeight::Normal)?;
            }
        }
        Ok(())
    }
}

impl RunCgroup for V1Run {
    fn set_cpu_weight(&self, weight: super::CpuWeight) -> Result<()> {
        let Some(cpu) = &self.cpu else {
            return Ok(());
        };
        let shares = match weight {
            super::CpuWeight::Idle => "2",
            super::CpuWeight::Normal => "1024",
        };
        write_file(&cpu.join("cpu.shares"), shares)
    }

    fn set_memory(&self, bytes: u64) -> Result<()> {
        let mem = self.memory.join("memory.limit_in_bytes");
        let memsw = self.memory.join("memory.memsw.limit_in_bytes");
        let value = bytes.to_string();
        if !memsw.exists() {
            return write_file(&mem, &value);
        }
        // The kernel keeps memsw >= memory: raise memsw first, lower memory first.
        let current: u64 = read_file(&mem)?.trim().parse().unwrap_or(u64::MAX);
        if bytes > current {
            write_file(&memsw, &value)?;
            write_file(&mem, &value)
        } else {
            write_file(&mem, &value)?;
            write_file(&memsw, &value)
        }
    }

    fn memory_usage_file(&self) -> PathBuf {
        self.memory.join("memory.usage_in_bytes")
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        self.created
            .iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    fn oom_killed(&self) -> Result<bool> {
        let path = self.memory.join("memory.oom_control");
        let content = read_file(&path)?;
        let kills = keyed_value(&path, &content, "oom_kill")?.unwrap_or(0);
        let under = keyed_value(&path, &content, "under_oom")?.unwrap_or(0);
        Ok(kills > self.oom_base || under > 0)
    }

    fn kept(&self) -> bool {
        self.kept
    }

    fn oom_kills(&self) -> Result<u64> {
        let path = self.memory.join("memory.oom_control");
        let content = read_file(&path)?;
        Ok(keyed_value(&path, &content, "oom_kill")?.unwrap_or(0))
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let mut all = Vec::new();
        for file in self.procs_files() {
            all.extend(parse_pids(&file, &read_file(&file)?)?);
        }
        all.sort_unstable();
        all.dedup();
        Ok(all)
    }

    fn members(&self) -> Result<Vec<i32>> {
        let Some(file) = self.procs_files().into_iter().next() else {
            return Ok(Vec::new());
        };
        parse_pids(&file, &read_file(&file)?)
    }

    fn kill_all(&self) -> Result<()> {
        for file in self.procs_files() {
            let pids = parse_pids(&file, &read_file(&file)?)?;
            kill_pids_checked(&file, &pids)?;
        }
        Ok(())
    }

    fn dirs(&self) -> Vec<PathBuf> {
        self.created.clone()
    }

    fn remove_dirs(&self) -> Result<()> {
        let mut first_err = None;
        for dir in &self.created {
            match std::fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_err.get_or_insert(CgroupError::io("rmdir", dir, e));
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn fake_root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for ctrl in ["memory", "pids", "cpu"] {
            fs::create_dir_all(dir.path().join(ctrl).join("svc")).unwrap();
            fs::write(dir.path().join(ctrl).join("cgroup.procs"), "").unwrap();
        }
        dir
    }

    const SELF_CGROUP: &str = "4:memory:/svc\n8:pids:/\n1:cpu:/\n0::/\n";

    #[test]
    fn probe_nests_under_the_runners_own_group_per_controller() {
        let root = fake_root();
        let v1 = V1::probe(root.path(), SELF_CGROUP).unwrap().unwrap();
        assert_eq!(v1.memory, root.path().join("memory/svc"));
        assert_eq!(v1.pids, root.path().join("pids"));
        assert_eq!(v1.cpu, Some(root.path().join("cpu")));
    }

    #[test]
    fn probe_finds_nothing_without_a_pids_hierarchy() {
        let root = fake_root();
        fs::remove_file(root.path().join("pids/cgroup.procs")).unwrap();
        assert!(V1::probe(root.path(), SELF_CGROUP).unwrap().is_none());
    }

    #[test]
    fn create_writes_memory_swap_pids_and_cpu_limits() {
        let root = fake_root();
        let v1 = V1::probe(root.path(), SELF_CGROUP).unwrap().unwrap();
        let limits = CgroupLimits {
            memory_bytes: 128 << 20,
            pids_max: 64,
            cpu_quota: Some(1.0),
        };
        let run = v1.create("pyth-on", "42-1", &limits).unwrap();
        let mem = root.path().join("memory/svc/pyth-on/42-1");
        assert_eq!(
            fs::read_to_string(mem.join("memory.limit_in_bytes")).unwrap(),
            "134217728"
        );
        assert!(
            !mem.join("memory.memsw.limit_in_bytes").exists(),
            "no swap accounting: not written"
        );
        let pids = root.path().join("pids/pyth-on/42-1");
        assert_eq!(fs::read_to_string(pids.join("pids.max")).unwrap(), "64");
        let cpu = root.path().join("cpu/pyth-on/42-1");
        assert_eq!(
            fs::read_to_string(cpu.join("cpu.cfs_quota_us")).unwrap(),
            "100000"
        );
        assert_eq!(
            fs::read_to_string(cpu.join("cpu.cfs_period_us")).unwrap(),
            "100000"
        );
        assert_eq!(run.procs_files().len(), 3);
        assert_eq!(run.procs_files()[0], mem.join("cgroup.procs"));
        run.set_cpu_weight(super::super::CpuWeight::Idle).unwrap();
        assert_eq!(fs::read_to_string(cpu.join("cpu.shares")).unwrap(), "2");
        run.set_cpu_weight(super::super::CpuWeight::Normal).unwrap();
        assert_eq!(fs::read_to_string(cpu.join("cpu.shares")).unwrap(), "1024");
    }

    #[test]
    fn oom_kills_are_read_from_memory_oom_control() {
        let root = fake_root();
        let v1 = V1::probe(root.path(), SELF_CGROUP).unwrap().unwrap();
        let limits = CgroupLimits {
            memory_bytes: 1 << 20,
            pids_max: 8,
            cpu_quota: None,
        };
        let run = v1.create("pyth-on", "42-2", &limits).unwrap();
        let oom = root
            .path()
            .join("memory/svc/pyth-on/42-2/memory.oom_control");
        fs::write(&oom, "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n").unwrap();
        assert!(!run.oom_killed().unwrap());
        fs::write(&oom, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n").unwrap();
        assert!(run.oom_killed().unwrap());
        assert_eq!(run.procs_files().len(), 2, "no cpu group without a quota");
    }

    #[test]
    fn pids_are_the_union_of_every_hierarchy() {
        let root = fake_root();
        let v1 = V1::probe(root.path(), SELF_CGROUP).unwrap().unwrap();
        let limits = CgroupLimits {
            memory_bytes: 1 << 20,
            pids_max: 8,
            cpu_quota: None,
        };
        let run = v1.create("pyth-on", "42-3", &limits).unwrap();
        fs::write(
            root.path().join("memory/svc/pyth-on/42-3/cgroup.procs"),
            "7\n9\n",
        )
        .unwrap();
        fs::write(
            root.path().join("pids/pyth-on/42-3/cgroup.procs"),
            "9\n11\n",
        )
        .unwrap();
        assert_eq!(run.pids().unwrap(), vec![7, 9, 11]);
        assert_eq!(
            run.members().unwrap(),
            vec![7, 9],
            "the first hierarchy's list"
        );
    }

    #[test]
    fn a_kept_group_is_reused_when_empty_with_its_limits_weight_and_oom_kills_reset() {
        let root = fake_root();
        let v1 = V1::probe(root.path(), SELF_CGROUP).unwrap().unwrap();
        let limits = |mb: u64| CgroupLimits {
            memory_bytes: mb << 20,
            pids_max: 8,
            cpu_quota: Some(0.5),
        };
        let first = v1.open_kept("pyth-on", "u7", &limits(64)).unwrap();
        assert!(first.kept());
        let groups = first.dirs();
        assert_eq!(groups.len(), 3);
        // What the kernel shows once that run is over: empty, one OOM kill, idle weight.
        for dir in &groups {
            fs::write(dir.join("cgroup.procs"), "").unwrap();
        }
        let mem = root.path().join("memory/svc/pyth-on/u7");
        fs::write(mem.join("memory.oom_control"), "under_oom 0\noom_kill 1\n").unwrap();
        first.set_cpu_weight(super::super::CpuWeight::Idle).unwrap();
        super::super::destroy(first.as_ref(), std::time::Duration::from_secs(1)).unwrap();
        assert!(groups.iter().all(|d| d.is_dir()), "kept after its run");

        let second = v1.open_kept("pyth-on", "u7", &limits(128)).unwrap();
        assert!(!second.oom_killed().unwrap(), "the earlier run's kill");
        assert_eq!(
            fs::read_to_string(mem.join("memory.limit_in_bytes")).unwrap(),
            "134217728"
        );
        let cpu = root.path().join("cpu/pyth-on/u7");
        assert_eq!(fs::read_to_string(cpu.join("cpu.shares")).unwrap(), "1024");
        fs::write(mem.join("memory.oom_control"), "under_oom 0\noom_kill 2\n").unwrap();
        assert!(second.oom_killed().unwrap(), "this run's own kill");

        fs::write(root.path().join("pids/pyth-on/u7/cgroup.procs"), "41\n").unwrap();
        let busy = v1.open_kept("pyth-on", "u7", &limits(64)).unwrap_err();
        assert!(
            matches!(&busy, CgroupError::NotEmpty { pids, .. } if pids == &[41]),
            "{busy:?}"
        );
    }
}
