//! The run-admission settings (`PYTH_ON_MAX_QUEUED_RUNS*`, `PYTH_ON_MAX_PARALLEL_RUNS`,
//! `PYTH_ON_RUN_UID_*`, ...), flattened into the server's `Settings`.

use clap::Args;

use crate::settings_error::SettingsError;

/// How runs are admitted on a node and which uids they run as.
#[derive(Debug, Clone, Args)]
pub struct RunSettings {
    /// Runs of one user at once; more wait their turn.
    #[arg(
        long,
        env = "PYTH_ON_MAX_CONCURRENT_RUNS_PER_USER",
        default_value_t = 4
    )]
    pub max_concurrent_runs_per_user: u32,

    /// Runs waiting or running on this node before new ones get 503.
    #[arg(long, env = "PYTH_ON_MAX_QUEUED_RUNS", default_value_t = 64)]
    pub max_queued_runs: u32,

    /// Runs of one user waiting or running on this node (its share of the queue, which
    /// `--max-queued-runs` bounds too); more get 429 `too_many_runs`, others are unaffected.
    #[arg(long, env = "PYTH_ON_MAX_QUEUED_RUNS_PER_USER", default_value_t = 16)]
    pub max_queued_runs_per_user: u32,

    /// First uid (= gid) of the per-run identities: each sandbox runs as its own uid from
    /// `start..start + count`, ids no host account may use.
    #[arg(long, env = "PYTH_ON_RUN_UID_START", default_value_t = 1_800_000_000)]
    pub run_uid_start: u32,

    /// How many per-run uids there are (at least the runs and warm runners alive at once).
    #[arg(long, env = "PYTH_ON_RUN_UID_COUNT", default_value_t = 65_536)]
    pub run_uid_count: u32,

    /// This node's name on the run record: a node starting under a name closes the runs it
    /// left open (it died during them) as `interrupted`. Unique per node sharing a database;
    /// default: `<hostname>:<port>`.
    #[arg(long, env = "PYTH_ON_NODE_NAME")]
    pub node_name: Option<String>,

    /// Runs executing at once on this node (default: the number of CPUs).
    #[arg(long, env = "PYTH_ON_MAX_PARALLEL_RUNS")]
    pub max_parallel_runs: Option<u32>,
}

impl RunSettings {
    /// Checks every value; `Err` names the flag.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.max_concurrent_runs_per_user == 0 {
            return Err(SettingsError::new(
                "--max-concurrent-runs-per-user",
                "must be at least 1",
            ));
        }
        if self.max_queued_runs == 0 {
            return Err(SettingsError::new(
                "--max-queued-runs",
                "must be at least 1",
            ));
        }
        if self.max_queued_runs_per_user == 0 {
            return Err(SettingsError::new(
                "--max-queued-runs-per-user",
                "must be at least 1",
            ));
        }
        let (start, count) = (u64::from(self.run_uid_start), u64::from(self.run_uid_count));
        let builds = crate::packages::config::BUILD_IDS;
        let (b0, b1) = (
            u64::from(builds.0),
            u64::from(builds.0) + u64::from(builds.1),
        );
        if start < 1000 || count == 0 || start + count > u64::from(u32::MAX) - 1 {
            return Err(SettingsError::new(
                "--run-uid-start",
                "the range must lie between 1000 and 4294967294 and hold at least one id",
            ));
        }
        if start < b1 && b0 < start + count {
            return Err(SettingsError::new(
                "--run-uid-start",
                format!("the range must not overlap the package builds' uids {b0}..{b1}"),
            ));
        }
        if let Some(name) = &self.node_name {
            if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
                return Err(SettingsError::new(
                    "--node-name",
                    "must be 1 to 200 characters, none of them control characters",
                ));
            }
        }
        if self.max_parallel_runs == Some(0) {
            return Err(SettingsError::new(
                "--max-parallel-runs",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// This node's name on the run record: `--node-name`, else `<hostname>:<port of listen>`.
    pub fn node_name(&self, listen: std::net::SocketAddr) -> String {
        match &self.node_name {
            Some(name) => name.clone(),
            None => {
                let host = nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_else(|| "localhost".to_owned());
                format!("{host}:{}", listen.port())
            }
        }
    }

    /// Runs executing at once on this node.
    pub fn parallel_runs(&self) -> usize {
        match self.max_parallel_runs {
            Some(n) => n as usize,
            None => pyth_on_sandbox::cpus::available().map_or(2, |n| n.get()),
        }
    }
}
