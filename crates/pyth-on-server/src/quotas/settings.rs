//! The server-wide default quotas (`PYTH_ON_QUOTA_*`), flattened into the server's `Settings`.
//! Each is a user's unless the operator set an override for them; `0` is unlimited.

use clap::Args;

/// Default quotas of every user.
#[derive(Debug, Clone, Args)]
pub struct QuotaSettings {
    /// Runs a user may start per UTC day (runs, zero-knowledge runs, generate-and-run and
    /// session cells alike); 0: unlimited.
    #[arg(long, env = "PYTH_ON_QUOTA_RUNS_PER_DAY", default_value_t = 2000)]
    pub quota_runs_per_day: u64,

    /// CPU seconds a user's runs and cells may use per UTC day; 0: unlimited.
    #[arg(
        long,
        env = "PYTH_ON_QUOTA_CPU_SECONDS_PER_DAY",
        default_value_t = 3600
    )]
    pub quota_cpu_seconds_per_day: u64,

    /// Sessions a user may hold open at once on all nodes together (each node also applies
    /// its own `--max-sessions-per-user`); 0: unlimited.
    #[arg(long, env = "PYTH_ON_QUOTA_SESSIONS_PER_USER", default_value_t = 8)]
    pub quota_sessions_per_user: u64,

    /// MiB of encrypted code and package environments a user may hold; 0: unlimited.
    #[arg(long, env = "PYTH_ON_QUOTA_STORAGE_MB", default_value_t = 1024)]
    pub quota_storage_mb: u64,
}
