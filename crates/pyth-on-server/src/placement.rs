//! Where the server's threads run (`--control-cpus`). Its own work (HTTP, the database's
//! threads, the pools' threads) keeps to the first few CPUs it was started on; what it starts
//! (the runner spawner, the fork server, runners, and so every sandbox) runs on all of them
//! (`pyth_on_sandbox::cpus`), the control CPUs included: they are kept to, not reserved. A request is a chain of hand-offs between the server's threads
//! (a tokio worker, SQLite's threads, a worker again); on CPUs of their own those stay on one
//! CPU, where waking a thread on another CPU costs an interrupt between CPUs (20-37 µs a
//! hand-off on this project's virtual machine, against 3-5 µs on one CPU, docs/PERFORMANCE.md).

use std::fmt;
use std::str::FromStr;

/// How many CPUs the server's own threads share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlCpus {
    /// A quarter of the CPUs the process may use at once, rounded up (one for 2 to 4); none
    /// kept apart with a single one.
    Auto,
    /// That many (0: none kept apart, every thread on every CPU).
    Count(usize),
}

impl ControlCpus {
    /// The CPUs the server's threads keep to, out of the process's `cpus` (ascending), of
    /// which `available` can be used at once (fewer under a cgroup's CPU quota): `None` when
    /// they keep to none (0, a single CPU, or as many as the process has).
    pub fn choose(self, cpus: &[usize], available: usize) -> Option<Vec<usize>> {
        let count = match self {
            Self::Auto if available.min(cpus.len()) < 2 => 0,
            Self::Auto => available.min(cpus.len()).div_ceil(4),
            Self::Count(n) => n,
        };
        (count > 0 && count < cpus.len()).then(|| cpus[..count].to_vec())
    }
}

impl FromStr for ControlCpus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            n => n.parse().map(Self::Count).map_err(|_| {
                format!("`{s}` is neither `auto` nor a number of CPUs (0 for none kept apart)")
            }),
        }
    }
}

impl fmt::Display for ControlCpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Count(n) => write!(f, "{n}"),
        }
    }
}

/// The control CPUs of `control` on this machine; `None` when there are none, or the
/// process's CPUs cannot be read ([`log`] says so).
fn control_cpus(control: ControlCpus) -> Option<Vec<usize>> {
    if control == ControlCpus::Count(0) {
        return None;
    }
    let cpus = pyth_on_sandbox::cpus::of_process().ok()?;
    let available = pyth_on_sandbox::cpus::available().map_or(cpus.len(), |n| n.get());
    control.choose(&cpus, available)
}

/// The server's async runtime: a worker thread per control CPU, at least two (a request that
/// holds its worker a while, decoding a large body, does not hold up every other: the kernel
/// shares the CPU between the two; one or two measured the same), each kept to those CPUs
/// with every thread the runtime starts (and the threads those start: SQLite's, the pools');
/// without control CPUs, tokio's defaults. Nothing is logged yet when it starts: [`log`]
/// says, once the server runs, where its threads are.
pub fn runtime(control: ControlCpus) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(control) = control_cpus(control) {
        builder.worker_threads(control.len().max(2));
        builder.on_thread_start(move || {
            if let Err(e) = pyth_on_sandbox::cpus::pin_this_thread(&control) {
                tracing::warn!(error = %e, "a thread of the server could not keep to its CPUs");
            }
        });
    }
    builder.build()
}

/// Logs where the server's threads run, from one of them: their CPUs and the process's (a
/// server embedded on a runtime of its own, as the tests', runs on every CPU), and a warning
/// when `control` is a count not below the process's CPUs.
pub fn log(control: ControlCpus) {
    use pyth_on_sandbox::cpus;
    let (Ok(own), Ok(all)) = (cpus::of_this_thread(), cpus::of_process()) else {
        tracing::warn!("the server's CPUs cannot be read: its threads run on every CPU");
        return;
    };
    if own != all {
        tracing::info!(control_cpus = ?own, cpus = ?all, "the server's threads keep to their control CPUs");
        return;
    }
    tracing::info!(cpus = ?all, "the server's threads run on every CPU");
    let asked = match control {
        ControlCpus::Count(n) if n > 0 && n >= all.len() => Some(n),
        _ => None,
    };
    if let Some(n) = asked {
        tracing::warn!(
            control_cpus = n,
            cpus = all.len(),
            "--control-cpus is not below the process's CPUs: none kept apart"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_keeps_a_quarter_of_the_cpus_and_none_of_a_single_one() {
        assert_eq!(ControlCpus::Auto.choose(&[0], 1), None);
        assert_eq!(ControlCpus::Auto.choose(&[0, 1], 2), Some(vec![0]));
        assert_eq!(ControlCpus::Auto.choose(&[2, 3, 5], 3), Some(vec![2]));
        assert_eq!(
            ControlCpus::Auto.choose(&[0, 1, 2, 3, 4], 5),
            Some(vec![0, 1])
        );
        let many: Vec<usize> = (0..64).collect();
        assert_eq!(
            ControlCpus::Auto.choose(&many, 64).map(|c| c.len()),
            Some(16)
        );
    }

    #[test]
    fn auto_counts_the_cpus_a_cgroup_quota_lets_run_at_once() {
        let many: Vec<usize> = (0..64).collect();
        assert_eq!(ControlCpus::Auto.choose(&many, 2), Some(vec![0]));
        assert_eq!(ControlCpus::Auto.choose(&many, 1), None);
    }

    #[test]
    fn a_count_of_none_or_of_every_cpu_keeps_no_cpus_apart() {
        assert_eq!(ControlCpus::Count(0).choose(&[0, 1], 2), None);
        assert_eq!(ControlCpus::Count(2).choose(&[0, 1], 2), None);
        assert_eq!(ControlCpus::Count(9).choose(&[0, 1], 2), None);
        assert_eq!(ControlCpus::Count(1).choose(&[4, 7], 2), Some(vec![4]));
    }

    #[test]
    fn the_setting_reads_auto_or_a_count_and_refuses_anything_else() {
        assert_eq!("auto".parse(), Ok(ControlCpus::Auto));
        assert_eq!("3".parse(), Ok(ControlCpus::Count(3)));
        let err = "half".parse::<ControlCpus>().unwrap_err();
        assert!(err.contains("`half`"), "{err}");
        assert!("-1".parse::<ControlCpus>().is_err());
        assert_eq!(ControlCpus::Count(3).to_string(), "3");
        assert_eq!(ControlCpus::Auto.to_string(), "auto");
    }
}
