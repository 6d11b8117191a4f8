//! The package settings (`PYTH_ON_PYPI_INDEX_URL`, `PYTH_ON_PACKAGE_*`, ...), flattened into
//! the server's `Settings`, and the [`PackageConfig`] they make.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::config::PackageConfig;
pub use super::config::SYSTEM_CA_BUNDLE;
use crate::settings_error::SettingsError;

/// Everything about package lists and the sandboxed builds of their environments.
#[derive(Debug, Clone, Args)]
pub struct PackageSettings {
    /// PEP 503 simple index for Python packages; default: PyPI.
    #[arg(long, env = "PYTH_ON_PYPI_INDEX_URL")]
    pub pypi_index_url: Option<String>,

    /// npm registry for JavaScript packages; default: registry.npmjs.org.
    #[arg(long, env = "PYTH_ON_NPM_REGISTRY")]
    pub npm_registry: Option<String>,

    /// Packages in one list (persistent, or per run).
    #[arg(long, env = "PYTH_ON_MAX_PACKAGES", default_value_t = 50)]
    pub max_packages: usize,

    /// An environment build is killed past this many seconds.
    #[arg(
        long,
        env = "PYTH_ON_PACKAGE_BUILD_TIMEOUT_SECS",
        default_value_t = 300
    )]
    pub package_build_timeout_secs: u64,

    /// A built environment larger than this (MiB) is refused.
    #[arg(long, env = "PYTH_ON_MAX_ENV_MB", default_value_t = 512)]
    pub max_env_mb: u64,

    /// Most files and directories one environment may hold.
    #[arg(long, env = "PYTH_ON_MAX_ENV_FILES", default_value_t = 100_000)]
    pub max_env_files: u64,

    /// Environments unused for this many hours are deleted.
    #[arg(long, env = "PYTH_ON_ENV_GC_MAX_AGE_HOURS", default_value_t = 168)]
    pub env_gc_max_age_hours: u64,

    /// Past this total size (MiB), least recently used environments are deleted.
    #[arg(long, env = "PYTH_ON_ENV_GC_MAX_TOTAL_MB", default_value_t = 5120)]
    pub env_gc_max_total_mb: u64,

    /// CA bundle (PEM) the installers trust inside the build sandbox: a TLS-inspecting
    /// proxy's or a private mirror's CA. Default: the host's system store when present.
    #[arg(long, env = "PYTH_ON_PACKAGE_CA_BUNDLE")]
    pub package_ca_bundle: Option<PathBuf>,

    /// Python packages from wheels only: source distributions (whose build runs the
    /// package's code, inside the build sandbox) are refused.
    #[arg(
        long,
        env = "PYTH_ON_PACKAGE_WHEELS_ONLY",
        default_value = "false",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = crate::settings_bool::BoolSetting
    )]
    pub package_wheels_only: bool,

    /// Run npm install scripts (inside the build sandbox). `false` installs with
    /// `--ignore-scripts`.
    #[arg(
        long,
        env = "PYTH_ON_NPM_INSTALL_SCRIPTS",
        default_value = "true",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = crate::settings_bool::BoolSetting
    )]
    pub npm_install_scripts: bool,

    /// Extra hosts builds may download from (comma-separated patterns, `*.example.com`), on
    /// top of the index's and registry's own hosts: a mirror that serves files elsewhere.
    #[arg(long, env = "PYTH_ON_PACKAGE_HOSTS", default_value = "")]
    pub package_hosts: String,

    /// `address:port` pairs builds may reach despite the private-range rule (a private
    /// mirror found by name). An index or registry given as an IP literal is exempt already.
    #[arg(long, env = "PYTH_ON_PACKAGE_EGRESS_EXEMPT", default_value = "")]
    pub package_egress_exempt: String,

    /// The index's and registry's host names may resolve to private, CGNAT, documentation or
    /// reserved addresses (where the host's DNS sends them: a corporate TLS-inspecting proxy or
    /// mirror). Loopback, link-local (metadata), multicast and unspecified addresses, address
    /// literals and every other name stay refused.
    #[arg(
        long,
        env = "PYTH_ON_PACKAGE_TRUST_INDEX_DNS",
        default_value = "true",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = crate::settings_bool::BoolSetting
    )]
    pub package_trust_index_dns: bool,

    /// Builds running at once on this node (each in its own sandbox, outside the execution
    /// slots of runs).
    #[arg(long, env = "PYTH_ON_MAX_CONCURRENT_BUILDS", default_value_t = 1)]
    pub max_concurrent_builds: usize,

    /// Builds waiting for a build slot on this node; more are refused with 503.
    #[arg(long, env = "PYTH_ON_MAX_QUEUED_BUILDS", default_value_t = 16)]
    pub max_queued_builds: usize,

    /// Of the waiting builds, how many one user may have asked for; more get 429.
    #[arg(long, env = "PYTH_ON_MAX_QUEUED_BUILDS_PER_USER", default_value_t = 2)]
    pub max_queued_builds_per_user: usize,

    /// Memory of one build sandbox (MiB, its `/tmp` included).
    #[arg(long, env = "PYTH_ON_PACKAGE_BUILD_MEMORY_MB", default_value_t = 2048)]
    pub package_build_memory_mb: u64,

    /// Size of a build sandbox's `/tmp` (MiB; counted in its memory).
    #[arg(long, env = "PYTH_ON_PACKAGE_BUILD_TMP_MB", default_value_t = 1024)]
    pub package_build_tmp_mb: u64,

    /// Bytes one build may download (MiB, both directions through its proxy).
    #[arg(
        long,
        env = "PYTH_ON_PACKAGE_BUILD_MAX_DOWNLOAD_MB",
        default_value_t = 2048
    )]
    pub package_build_max_download_mb: u64,
}

impl PackageSettings {
    /// Checks every value; `Err` names the flag.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |name: &'static str, reason: String| SettingsError::new(name, reason);
        if self.max_packages == 0 || self.max_packages > 1000 {
            return Err(bad("--max-packages", "must be between 1 and 1000".into()));
        }
        for (name, value) in [
            (
                "--package-build-timeout-secs",
                self.package_build_timeout_secs,
            ),
            ("--max-env-mb", self.max_env_mb),
            ("--max-env-files", self.max_env_files),
            ("--max-concurrent-builds", self.max_concurrent_builds as u64),
            ("--max-queued-builds", self.max_queued_builds as u64),
            (
                "--max-queued-builds-per-user",
                self.max_queued_builds_per_user as u64,
            ),
            (
                "--package-build-max-download-mb",
                self.package_build_max_download_mb,
            ),
        ] {
            if value == 0 {
                return Err(bad(name, "must be at least 1".into()));
            }
        }
        if self.package_build_memory_mb < 256 {
            return Err(bad(
                "--package-build-memory-mb",
                "must be at least 256".into(),
            ));
        }
        if self.package_build_tmp_mb < 16
            || self.package_build_tmp_mb + self.max_env_mb > self.package_build_memory_mb
        {
            return Err(bad(
                "--package-build-tmp-mb",
                "must be at least 16, and with --max-env-mb (both are tmpfs counted in the \
                 build's memory) at most --package-build-memory-mb"
                    .into(),
            ));
        }
        self.validate_reach()
    }

    /// The index URLs, extra hosts, exempt pairs and CA bundle.
    fn validate_reach(&self) -> Result<(), SettingsError> {
        let bad = |name: &'static str, reason: String| SettingsError::new(name, reason);
        for (name, url) in [
            ("--pypi-index-url", self.pypi_index_url.as_deref()),
            ("--npm-registry", self.npm_registry.as_deref()),
        ] {
            if let Some(url) = url {
                super::hosts::index_host(url).map_err(|e| bad(name, e))?;
            }
        }
        pyth_on_egress::parse_patterns(&self.package_hosts)
            .map_err(|e| bad("--package-hosts", e.to_string()))?;
        pyth_on_egress::Policy::parse("", "", &self.package_egress_exempt)
            .map_err(|e| bad("--package-egress-exempt", e.to_string()))?;
        if let Some(ca) = &self.package_ca_bundle {
            if !ca.is_file() {
                return Err(bad(
                    "--package-ca-bundle",
                    format!("{} is not a readable file", ca.display()),
                ));
            }
        }
        Ok(())
    }

    /// The CA bundle builds trust: the setting, else the system store when present.
    pub fn ca_bundle(&self) -> Option<PathBuf> {
        self.package_ca_bundle
            .clone()
            .or_else(|| Some(PathBuf::from(SYSTEM_CA_BUNDLE)).filter(|p| p.is_file()))
    }

    /// The builder's configuration for a data directory and the runs' Python.
    pub fn config(&self, data_dir: &Path, python: PathBuf) -> PackageConfig {
        let mut cfg = PackageConfig::new(data_dir, python);
        cfg.pypi_index_url = self.pypi_index_url.clone();
        cfg.npm_registry = self.npm_registry.clone();
        cfg.max_packages = self.max_packages;
        cfg.build_timeout = Duration::from_secs(self.package_build_timeout_secs);
        cfg.max_env_bytes = self.max_env_mb * 1024 * 1024;
        cfg.max_env_files = self.max_env_files;
        cfg.gc_max_age = Duration::from_secs(self.env_gc_max_age_hours * 3600);
        cfg.gc_max_total_bytes = self.env_gc_max_total_mb * 1024 * 1024;
        cfg.ca_bundle = self.ca_bundle();
        cfg.wheels_only = self.package_wheels_only;
        cfg.npm_install_scripts = self.npm_install_scripts;
        cfg.extra_hosts = self.package_hosts.clone();
        cfg.egress_exempt = self.package_egress_exempt.clone();
        cfg.trust_index_dns = self.package_trust_index_dns;
        cfg.max_concurrent_builds = self.max_concurrent_builds;
        cfg.max_queued_builds = self.max_queued_builds;
        cfg.max_queued_builds_per_user = self.max_queued_builds_per_user;
        cfg.build_memory_mb = self.package_build_memory_mb;
        cfg.build_tmp_mb = self.package_build_tmp_mb;
        cfg.build_max_bytes = self.package_build_max_download_mb * 1024 * 1024;
        cfg
    }
}
