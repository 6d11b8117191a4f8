//! [`PackageConfig`]: where and how environments are built (the builder's settings, made by
//! [`super::settings::PackageSettings`]); depends on nothing else of `packages`.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the host's system CA store usually is (Debian, Ubuntu, Alpine).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The uids package builds run as (`start`, `count`): one per build, drawn at random.
pub const BUILD_IDS: (u32, u32) = (1_900_000_000, 1_000_000);

/// Where and how environments are built.
#[derive(Debug, Clone)]
pub struct PackageConfig {
    /// Finished environments, `<data-dir>/envs` (made 0711, root-owned).
    pub root: PathBuf,
    /// Where builds write before the rename, `<data-dir>/builds` (root-only 0700: a build
    /// sees only its own `env` directory, bound into its sandbox).
    pub build_dir: PathBuf,
    /// PEP 503 simple index (`--index-url`); `None` is the installer's default (PyPI).
    pub pypi_index_url: Option<String>,
    /// npm registry (`--registry`); `None` is npm's default.
    pub npm_registry: Option<String>,
    /// A build is killed past this. Default 300 s.
    pub build_timeout: Duration,
    /// A built environment larger than this is refused and deleted; also the size of the
    /// build's output tmpfs. Default 512 MiB.
    pub max_env_bytes: u64,
    /// Most files and directories one environment may hold (the inodes of the build's output
    /// tmpfs). Default 100 000.
    pub max_env_files: u64,
    /// Environments unused for this long are deleted by [`PackageManager::gc`]. Default 7 days.
    pub gc_max_age: Duration,
    /// Past this total, the least recently used environments are deleted. Default 5 GiB.
    pub gc_max_total_bytes: u64,
    /// The interpreter runs use: builds target its version.
    pub python: PathBuf,
    /// `uv`, when present (found on `PATH` by [`PackageConfig::new`]); else `python -m pip`.
    pub uv: Option<PathBuf>,
    /// `npm`; `None` turns JavaScript packages off.
    pub node_npm: Option<PathBuf>,
    /// The most packages in one list (persistent, or per run). Default 50.
    pub max_packages: usize,
    /// A failed set answers its failure for this long, then the next request retries the
    /// build once (a registry outage is not kept forever). Default 15 minutes.
    pub failed_retry_after: Duration,
    /// When the server is root, each build runs as its own uid (= gid), drawn from
    /// `start..start + count`: unmapped ids that own nothing else, so a build cannot touch
    /// another build's files. Default `(1_900_000_000, 1_000_000)`.
    pub build_ids: (u32, u32),
    /// CA bundle bound into build sandboxes and named to the installers; default the host's
    /// system store when present.
    pub ca_bundle: Option<PathBuf>,
    /// Python from wheels only (no sdist builds).
    pub wheels_only: bool,
    /// npm install scripts run (inside the build sandbox).
    pub npm_install_scripts: bool,
    /// Extra hosts builds may reach (host patterns, comma-separated).
    pub extra_hosts: String,
    /// Extra `address:port` pairs builds may reach despite the private-range rule.
    pub egress_exempt: String,
    /// The index's and registry's names may resolve into private or reserved ranges (a
    /// corporate proxy or mirror); loopback and link-local stay refused. Default on.
    pub trust_index_dns: bool,
    /// Builds running at once. Default 1.
    pub max_concurrent_builds: usize,
    /// Builds waiting for a slot; more are refused. Default 16.
    pub max_queued_builds: usize,
    /// Of them, builds one user asked for. Default 2.
    pub max_queued_builds_per_user: usize,
    /// Memory of one build sandbox, MiB. Default 2048.
    pub build_memory_mb: u64,
    /// Size of a build sandbox's `/tmp` (and `/work`), MiB. Default 1024.
    pub build_tmp_mb: u64,
    /// Bytes one build may move through its proxy. Default 2 GiB.
    pub build_max_bytes: u64,
}

impl PackageConfig {
    /// Defaults for a data directory and the runs' interpreter; `uv` and `npm` from `PATH`.
    pub fn new(data_dir: &Path, python: impl Into<PathBuf>) -> Self {
        Self {
            root: data_dir.join("envs"),
            build_dir: data_dir.join("builds"),
            pypi_index_url: None,
            npm_registry: None,
            build_timeout: Duration::from_secs(300),
            max_env_bytes: 512 * 1024 * 1024,
            max_env_files: 100_000,
            gc_max_age: Duration::from_secs(7 * 24 * 3600),
            gc_max_total_bytes: 5 * 1024 * 1024 * 1024,
            python: python.into(),
            uv: find_on_path("uv"),
            node_npm: find_on_path("npm"),
            max_packages: 50,
            failed_retry_after: Duration::from_secs(15 * 60),
            build_ids: BUILD_IDS,
            ca_bundle: Some(PathBuf::from(SYSTEM_CA_BUNDLE)).filter(|p| p.is_file()),
            wheels_only: false,
            npm_install_scripts: true,
            extra_hosts: String::new(),
            egress_exempt: String::new(),
            trust_index_dns: true,
            max_concurrent_builds: 1,
            max_queued_builds: 16,
            max_queued_builds_per_user: 2,
            build_memory_mb: 2048,
            build_tmp_mb: 1024,
            build_max_bytes: 2 << 30,
        }
    }
}

/// The first executable `name` in a world-searchable directory of `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o001 != 0)
        })
}
