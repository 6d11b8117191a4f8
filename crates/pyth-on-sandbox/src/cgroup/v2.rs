//! cgroup v2 backend: one unified group per run.
//!
//! Set-up enables `+memory +pids` (and `+cpu` when offered) in the root's and the parent's
//! `cgroup.subtree_control`, then writes per run: `memory.max`, `memory.swap.max` = 0,
//! `memory.oom.group` = 1 (an OOM kill takes the whole run), `pids.max`, and `cpu.max`
//! (`<quota> <period>`). OOM detection reads `oom_kill` from `memory.events`. Teardown writes
//! `1` to `cgroup.kill` (Linux 5.14+), falling back to per-pid SIGKILL.

use std::path::{Path, PathBuf};

use super::{
    check_component, ensure_dir, idle_baseline, keyed_value, kill_pids_checked, make_group_dir,
    parse_pids, read_file, remove_stale_in, write_file, CgroupLimits, Cgroups, Result, RunCgroup,
};
use crate::error::CgroupError;

/// The unified hierarchy mounted at `root`.
#[derive(Debug, Clone)]
pub struct V2 {
    root: PathBuf,
    cpu: bool,
}

impl V2 {
    /// `Some` when `root/cgroup.controllers` lists both `memory` and `pids`.
    pub fn probe(root: &Path) -> Result<Option<Self>> {
        let Ok(controllers) = std::fs::read_to_string(root.join("cgroup.controllers")) else {
            return Ok(None);
        };
        let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
        if !(has("memory") && has("pids")) {
            return Ok(None);
        }
        Ok(Some(Self {
            root: root.to_owned(),
            cpu: has("cpu"),
        }))
    }

    fn enable_controllers(&self, dir: &Path) -> Result<()> {
        let list = if self.cpu {
            "+memory +pids +cpu"
        } else {
            "+memory +pids"
        };
        let file = dir.join("cgroup.subtree_control");
        let current = read_file(&file).unwrap_or_default();
        let missing = list
            .split_whitespace()
            .any(|c| !current.split_whitespace().any(|x| x == &c[1..]));
        if missing {
            write_file(&file, list)?;
        }
        Ok(())
    }
}

impl Cgroups for V2 {
    fn version(&self) -> &'static str {
        "v2"
    }

    fn create(
        &self,
        parent: &str,
        name: &str,
        limits: &CgroupLimits,
    ) -> Result<Box<dyn RunCgroup>> {
        let run = self.run_in(parent, name, false)?;
        make_group_dir(&self.root, parent, &run.dir, false)?;
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
        let mut run = self.run_in(parent, name, true)?;
        if make_group_dir(&self.root, parent, &run.dir, true)? {
            run.write_limits(limits, false)?;
            return Ok(Box::new(run));
        }
        run.oom_base = idle_baseline(&run, &run.dir)?;
        run.write_limits(limits, true)?;
        Ok(Box::new(run))
    }

    fn remove_stale(&self, parent: &str) -> Result<usize> {
        check_component(parent)?;
        remove_stale_in(&self.root.join(parent))
    }
}

impl V2 {
    /// The run's group (not made yet), with the controllers enabled down to its parent.
    fn run_in(&self, parent: &str, name: &str, kept: bool) -> Result<V2Run> {
        check_component(parent)?;
        check_component(name)?;
        let parent_dir = self.root.join(parent);
        self.enable_controllers(&self.root)?;
        ensure_dir(&parent_dir)?;
        self.enable_controllers(&parent_dir)?;
        let mut run = V2Run::new(parent_dir.join(name), self.cpu);
        run.kept = kept;
        Ok(run)
    }
}

/// One run's unified group.
#[derive(Debug)]
struct V2Run {
    dir: PathBuf,
    /// The cpu controller is enabled for the group.
    cpu: bool,
    /// Kept for the next run of the same name ([`Cgroups::open_kept`]).
    kept: bool,
    /// `oom_kill` of `memory.events` when the run got the group.
    oom_base: u64,
}

impl V2Run {
    fn new(dir: PathBuf, cpu: bool) -> Self {
        Self {
            dir,
            cpu,
            kept: false,
            oom_base: 0,
        }
    }

    /// Writes the limits; `again` on a kept group an earlier run left, where the CPU quota
    /// and weight that run had are reset too.
    fn write_limits(&self, limits: &CgroupLimits, again: bool) -> Result<()> {
        let cpu = self.cpu;
        write_file(
            &self.dir.join("memory.max"),
            &limits.memory_bytes.to_string(),
        )?;
        let swap = self.dir.join("memory.swap.max");
        if swap.exists() {
            write_file(&swap, "0")?;
        }
        write_file(&self.dir.join("memory.oom.group"), "1")?;
        write_file(&self.dir.join("pids.max"), &limits.pids_max.to_string())?;
        match (cpu, limits.cpu_quota_us()) {
            (true, Some(quota)) => write_file(
                &self.dir.join("cpu.max"),
                &format!("{quota} {}", super::CPU_PERIOD_US),
            )?,
            (true, None) if again => write_file(
                &self.dir.join("cpu.max"),
                &format!("max {}", super::CPU_PERIOD_US),
            )?,
            _ => {}
        }
        if cpu && again {
            self.set_cpu_weight(super::CpuWeight::Normal)?;
        }
        Ok(())
    }
}

impl RunCgroup for V2Run {
    fn set_cpu_weight(&self, weight: super::CpuWeight) -> Result<()> {
        if !self.cpu {
            return Ok(());
        }
        let value = match weight {
            super::CpuWeight::Idle => "1",
            super::CpuWeight::Normal => "100",
        };
        write_file(&self.dir.join("cpu.weight"), value)
    }

    fn set_memory(&self, bytes: u64) -> Result<()> {
        write_file(&self.dir.join("memory.max"), &bytes.to_string())
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        vec![self.dir.join("cgroup.procs")]
    }

    fn memory_usage_file(&self) -> PathBuf {
        self.dir.join("memory.current")
    }

    fn oom_killed(&self) -> Result<bool> {
        let path = self.dir.join("memory.events");
        let content = read_file(&path)?;
        Ok(keyed_value(&path, &content, "oom_kill")?.unwrap_or(0) > self.oom_base)
    }

    fn kept(&self) -> bool {
        self.kept
    }

    fn oom_kills(&self) -> Result<u64> {
        let path = self.dir.join("memory.events");
        let content = read_file(&path)?;
        Ok(keyed_value(&path, &content, "oom_kill")?.unwrap_or(0))
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let file = self.dir.join("cgroup.procs");
        parse_pids(&file, &read_file(&file)?)
    }

    fn kill_all(&self) -> Result<()> {
        let kill = self.dir.join("cgroup.kill");
        if kill.exists() && write_file(&kill, "1").is_ok() {
            return Ok(());
        }
        let file = self.dir.join("cgroup.procs");
        kill_pids_checked(&file, &self.pids()?)
    }

    fn dirs(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }

    fn remove_dirs(&self) -> Result<()> {
        match std::fs::remove_dir(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CgroupError::io("rmdir", &self.dir, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn fake_root(controllers: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("cgroup.controllers"), controllers).unwrap();
        fs::write(dir.path().join("cgroup.subtree_control"), "").unwrap();
        dir
    }

    fn limits() -> CgroupLimits {
        CgroupLimits {
            memory_bytes: 256 << 20,
            pids_max: 64,
            cpu_quota: Some(0.5),
        }
    }

    #[test]
    fn probe_requires_memory_and_pids_controllers() {
        assert!(V2::probe(fake_root("cpu io memory pids").path())
            .unwrap()
            .is_some());
        assert!(V2::probe(fake_root("hugetlb").path()).unwrap().is_none());
        assert!(V2::probe(fake_root("").path()).unwrap().is_none());
        assert!(V2::probe(Path::new("/nonexistent")).unwrap().is_none());
    }

    #[test]
    fn create_enables_controllers_and_writes_limits() {
        let root = fake_root("cpu memory pids");
        let v2 = V2::probe(root.path()).unwrap().unwrap();
        fs::create_dir(root.path().join("pyth-on")).unwrap();
        fs::write(root.path().join("pyth-on/cgroup.subtree_control"), "memory").unwrap();
        let run = v2.create("pyth-on", "7-1", &limits()).unwrap();
        let dir = root.path().join("pyth-on/7-1");
        let read = |f: &str| fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(read("memory.max"), "268435456");
        assert_eq!(read("memory.oom.group"), "1");
        assert_eq!(read("pids.max"), "64");
        assert_eq!(read("cpu.max"), "50000 100000");
        let sub = fs::read_to_string(root.path().join("pyth-on/cgroup.subtree_control")).unwrap();
        assert!(sub.contains("+pids"), "{sub}");
        assert_eq!(run.procs_files(), vec![dir.join("cgroup.procs")]);
    }

    #[test]
    fn swap_is_disabled_when_the_kernel_offers_swap_control() {
        let root = fake_root("memory pids");
        let v2 = V2::probe(root.path()).unwrap().unwrap();
        // The kernel creates memory.swap.max in every new group; a fake group needs it up front,
        // so create the run once, add the file, and write the limits again.
        let run = V2Run::new(root.path().join("g"), false);
        fs::create_dir(&run.dir).unwrap();
        fs::write(run.dir.join("memory.swap.max"), "max").unwrap();
        run.write_limits(&limits(), false).unwrap();
        assert!(!v2.cpu);
        assert_eq!(
            fs::read_to_string(run.dir.join("memory.swap.max")).unwrap(),
            "0"
        );
        assert!(
            !run.dir.join("cpu.max").exists(),
            "no cpu controller offered"
        );
    }

    #[test]
    fn oom_kills_are_read_from_memory_events() {
        let root = fake_root("memory pids");
        let run = V2Run::new(root.path().to_owned(), true);
        fs::write(
            root.path().join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n",
        )
        .unwrap();
        assert!(!run.oom_killed().unwrap());
        fs::write(
            root.path().join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert!(run.oom_killed().unwrap());
    }

    #[test]
    fn an_idle_session_gets_the_least_cpu_weight_and_a_running_cell_the_default() {
        let root = fake_root("memory pids cpu");
        let run = V2Run::new(root.path().to_owned(), true);
        run.set_cpu_weight(super::super::CpuWeight::Idle).unwrap();
        assert_eq!(
            fs::read_to_string(root.path().join("cpu.weight")).unwrap(),
            "1"
        );
        run.set_cpu_weight(super::super::CpuWeight::Normal).unwrap();
        assert_eq!(
            fs::read_to_string(root.path().join("cpu.weight")).unwrap(),
            "100"
        );
        let without = V2Run::new(root.path().join("none"), false);
        assert!(without
            .set_cpu_weight(super::super::CpuWeight::Idle)
            .is_ok());
    }

    #[test]
    fn a_kept_group_is_reused_when_empty_with_the_last_runs_quota_weight_and_oom_kills_reset() {
        let root = fake_root("memory pids cpu");
        let v2 = V2::probe(root.path()).unwrap().unwrap();
        let first = v2.open_kept("pyth-on", "u7", &limits()).unwrap();
        assert!(first.kept());
        let dir = root.path().join("pyth-on/u7");
        // What the kernel shows once that run is over: empty, one OOM kill, idle weight.
        fs::write(dir.join("cgroup.procs"), "").unwrap();
        fs::write(dir.join("memory.events"), "oom 1\noom_kill 1\n").unwrap();
        first.set_cpu_weight(super::super::CpuWeight::Idle).unwrap();
        super::super::destroy(first.as_ref(), std::time::Duration::from_secs(1)).unwrap();
        assert!(dir.is_dir(), "a kept group stays after its run");
        let unlimited = CgroupLimits {
            cpu_quota: None,
            ..limits()
        };
        let second = v2.open_kept("pyth-on", "u7", &unlimited).unwrap();
        assert!(!second.oom_killed().unwrap(), "the earlier run's kill");
        assert_eq!(
            fs::read_to_string(dir.join("cpu.max")).unwrap(),
            "max 100000"
        );
        assert_eq!(fs::read_to_string(dir.join("cpu.weight")).unwrap(), "100");
        fs::write(dir.join("memory.events"), "oom 2\noom_kill 2\n").unwrap();
        assert!(second.oom_killed().unwrap(), "this run's own kill");
        fs::write(dir.join("cgroup.procs"), "41\n").unwrap();
        let busy = v2.open_kept("pyth-on", "u7", &limits()).unwrap_err();
        assert!(
            matches!(&busy, CgroupError::NotEmpty { pids, .. } if pids == &[41]),
            "{busy:?}"
        );
    }
}
