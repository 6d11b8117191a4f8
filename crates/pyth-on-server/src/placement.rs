//! Where the server's threads run (`--control-cpus`). Its own work (HTTP, the database's
//! threads, the pools' threads) shares the first few CPUs it was started on; what it starts
//! (the runner spawner, the fork server, runners, and so every sandbox) runs on all of them
//! (`pyth_on_sandbox::cpus`). A request is a chain of hand-offs between the server's threads
//! (a tokio worker, SQLite's threads, a worker again); on CPUs of their own those stay on one
//! CPU, where waking a thread on another CPU costs an interrupt between CPUs (20-37 µs a
//! hand-off on this project's virtual machine, against 3-5 µs on one CPU, docs/PERFORMANCE.md).

use std::fmt;
use std::str::FromStr;

/// How many CPUs the server's own threads share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlCpus {
    /// A quarter of the process's CPUs (at least one); none kept apart with a single CPU.
    Auto,
    /// That many (0: none kept apart, every thread on every CPU).
    Count(usize),
}

impl ControlCpus {
    /// The CPUs the server's threads keep to, out of the process's `cpus` (ascending): `None`
    /// when they keep to none (0, one CPU in all, or as many as the process has).
    pub fn choose(self, cpus: &[usize]) -> Option<Vec<usize>> {
        let count = match self {
            Self::Auto if cpus.len() < 2 => 0,
            Self::Auto => cpus.len().div_ceil(4),
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

/// The server's async runtime: one worker thread per control CPU, each kept to those CPUs
/// with every thread the runtime starts (and the threads those start: SQLite's, the pools');
/// without control CPUs, tokio's defaults.
pub fn runtime(control: ControlCpus) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    let cpus = pyth_on_sandbox::cpus::of_process().map_err(std::io::Error::other)?;
    if let Some(control) = control.choose(&cpus) {
        builder.worker_threads(control.len());
        builder.on_thread_start(move || {
            if let Err(e) = pyth_on_sandbox::cpus::pin_this_thread(&control) {
                tracing::warn!(error = %e, "a thread of the server could not keep to its CPUs");
            }
        });
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_keeps_a_quarter_of_the_cpus_and_none_of_a_single_one() {
        assert_eq!(ControlCpus::Auto.choose(&[0]), None);
        assert_eq!(ControlCpus::Auto.choose(&[0, 1]), Some(vec![0]));
        assert_eq!(ControlCpus::Auto.choose(&[2, 3, 5]), Some(vec![2]));
        assert_eq!(ControlCpus::Auto.choose(&[0, 1, 2, 3, 4]), Some(vec![0, 1]));
        let many: Vec<usize> = (0..64).collect();
        assert_eq!(ControlCpus::Auto.choose(&many).map(|c| c.len()), Some(16));
    }

    #[test]
    fn a_count_of_none_or_of_every_cpu_keeps_no_cpus_apart() {
        assert_eq!(ControlCpus::Count(0).choose(&[0, 1]), None);
        assert_eq!(ControlCpus::Count(2).choose(&[0, 1]), None);
        assert_eq!(ControlCpus::Count(9).choose(&[0, 1]), None);
        assert_eq!(ControlCpus::Count(1).choose(&[4, 7]), Some(vec![4]));
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
