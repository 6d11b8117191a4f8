//! Server settings: one typed struct, read from flags and `PYTH_ON_*` environment variables
//! (a flag wins over the environment), validated in full before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use ipnet::IpNet;

/// Everything `pyth-on serve` can be told. Every one is listed in `docs/OPERATIONS.md`.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "PYTH_ON_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the SQLite database, key material and package environments.
    #[arg(long, env = "PYTH_ON_DATA_DIR", default_value = "./pyth-on-data")]
    pub data_dir: PathBuf,

    /// `sqlite://...` or `postgres://...`; default: SQLite in the data directory.
    #[arg(long, env = "PYTH_ON_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Time bounds on the database.
    #[command(flatten)]
    pub database: crate::database::DatabaseSettings,

    /// Directory holding the JWT signing key and the versioned secrets keys; default
    /// `<data-dir>/keys`. Several nodes share one copy of it.
    #[arg(long, env = "PYTH_ON_KEY_DIR")]
    pub key_dir: Option<PathBuf>,

    /// Requests per minute per user on `/api/v1/*`.
    #[arg(long, env = "PYTH_ON_RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u32,

    /// Requests per minute per client IP on login, register, refresh and logout (one bucket).
    #[arg(long, env = "PYTH_ON_AUTH_RATE_LIMIT_PER_MINUTE", default_value_t = 10)]
    pub auth_rate_limit_per_minute: u32,

    /// Comma-separated CIDRs whose `X-Forwarded-For` header is believed.
    #[arg(long, env = "PYTH_ON_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,

    /// Request body limit in bytes.
    #[arg(long, env = "PYTH_ON_MAX_BODY_BYTES", default_value_t = 16_777_216)]
    pub max_body_bytes: u64,

    /// Source code limit in bytes.
    #[arg(long, env = "PYTH_ON_MAX_CODE_BYTES", default_value_t = 524_288)]
    pub max_code_bytes: u64,

    /// Per-stream output cap in bytes; past it the run is stopped.
    #[arg(long, env = "PYTH_ON_MAX_OUTPUT_BYTES", default_value_t = 1_048_576)]
    pub max_output_bytes: u64,

    /// Default run wall-clock limit.
    #[arg(long, env = "PYTH_ON_DEFAULT_TIMEOUT_MS", default_value_t = 10_000)]
    pub default_timeout_ms: u64,

    /// Largest wall-clock limit a request may ask for.
    #[arg(long, env = "PYTH_ON_MAX_TIMEOUT_MS", default_value_t = 60_000)]
    pub max_timeout_ms: u64,

    /// Default run memory limit.
    #[arg(long, env = "PYTH_ON_DEFAULT_MEMORY_MB", default_value_t = 256)]
    pub default_memory_mb: u64,

    /// Largest memory limit a request may ask for.
    #[arg(long, env = "PYTH_ON_MAX_MEMORY_MB", default_value_t = 2048)]
    pub max_memory_mb: u64,

    /// Bounds on a run's input and output files.
    #[command(flatten)]
    pub files: crate::execution::files::FileSettings,

    /// Run admission: queue, shares, slots and per-run identities.
    #[command(flatten)]
    pub runs: crate::runs::RunSettings,

    /// Sessions: how many, and for how long.
    #[command(flatten)]
    pub sessions: crate::sessions::settings::SessionSettings,

    /// Default per-user quotas (`PYTH_ON_QUOTA_*`).
    #[command(flatten)]
    pub quotas: crate::quotas::settings::QuotaSettings,

    /// Secrets per user.
    #[arg(long, env = "PYTH_ON_MAX_SECRETS_PER_USER", default_value_t = 100)]
    pub max_secrets_per_user: u32,

    /// Largest secret value in bytes.
    #[arg(long, env = "PYTH_ON_MAX_SECRET_BYTES", default_value_t = 32_768)]
    pub max_secret_bytes: u64,

    /// Access-token lifetime in seconds (at most 900).
    #[arg(long, env = "PYTH_ON_ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,

    /// Refresh-token lifetime in days.
    #[arg(long, env = "PYTH_ON_REFRESH_TOKEN_TTL_DAYS", default_value_t = 30)]
    pub refresh_token_ttl_days: u64,

    /// Who may create an account (`PYTH_ON_REGISTRATION`, `PYTH_ON_INVITATION_TTL_HOURS`).
    #[command(flatten)]
    pub registration: crate::registration::RegistrationSettings,

    /// Python interpreter to run (a real binary, not a shim); default: found on the host.
    #[arg(long, env = "PYTH_ON_PYTHON")]
    pub python: Option<PathBuf>,

    /// Node.js binary to run; default: found on the host.
    #[arg(long, env = "PYTH_ON_NODE")]
    pub node: Option<PathBuf>,

    /// The `pyth-on-runner` binary; default: next to this executable.
    #[arg(long, env = "PYTH_ON_RUNNER")]
    pub runner: Option<PathBuf>,

    /// Warm runners kept per language (0 turns the pool off); default: chosen for the machine
    /// (the number of CPUs, at most 4).
    #[arg(long, env = "PYTH_ON_POOL_SIZE")]
    pub pool_size: Option<usize>,

    /// Warm runners prepared at once while the pool refills.
    #[arg(long, env = "PYTH_ON_POOL_REFILL_CONCURRENCY", default_value_t = 2)]
    pub pool_refill_concurrency: usize,

    /// A warm runner idle this long (seconds) is retired and replaced.
    #[arg(long, env = "PYTH_ON_POOL_IDLE_SECS", default_value_t = 60)]
    pub pool_idle_secs: u64,

    /// Start the interpreter in warm runners ahead of the job (`true`, the default) or only
    /// isolate them (`false`).
    #[arg(
        long,
        env = "PYTH_ON_POOL_PRESTART",
        default_value = "true",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = crate::settings_bool::BoolSetting
    )]
    pub pool_prestart: bool,

    /// Python runs take an interpreter forked from a fork server started once (`true`, the
    /// default) instead of starting one each (docs/SECURITY.md, "The fork server").
    #[arg(
        long,
        env = "PYTH_ON_FORK_SERVER",
        default_value = "true",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = crate::settings_bool::BoolSetting
    )]
    pub fork_server: bool,

    /// CPUs the server's own threads (HTTP, database, pools) keep to, the first of those it
    /// was started on; runners and sandboxes run on all of them, these included. `auto`: a
    /// quarter of the CPUs it may use at once, rounded up (none with a single CPU); `0`: none
    /// kept apart.
    #[arg(long, env = "PYTH_ON_CONTROL_CPUS", default_value = "auto")]
    pub control_cpus: crate::placement::ControlCpus,

    /// Runs a fork server serves before a fresh one replaces it (a new string-hash seed and
    /// address-space layout); the runner spawner is replaced after as many runners.
    #[arg(long, env = "PYTH_ON_FORK_SERVER_RUNS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub fork_server_runs: u64,

    /// Each run's runner is forked from a runner spawner started once (`true`, the default)
    /// instead of exec'd (docs/SECURITY.md, "The runner spawner").
    #[arg(
        long,
        env = "PYTH_ON_RUNNER_SPAWNER",
        default_value = "true",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = crate::settings_bool::BoolSetting
    )]
    pub runner_spawner: bool,

    /// Runs enter network namespaces made ahead of time, each reused by a later run only if
    /// the last one left no trace in it (`true`, the default; docs/SECURITY.md, "Network
    /// namespaces, reused only when untouched"); `false`: every run makes a new one.
    #[arg(
        long,
        env = "PYTH_ON_REUSE_NETNS",
        default_value = "true",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = crate::settings_bool::BoolSetting
    )]
    pub reuse_netns: bool,

    /// On SIGTERM/SIGINT, in-flight requests and runs get this long to finish; then the server
    /// stops anyway (its runs die with it). A second signal stops it at once.
    #[arg(long, env = "PYTH_ON_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// Serve Prometheus metrics at `GET /metrics`.
    #[arg(
        long,
        env = "PYTH_ON_METRICS",
        default_value = "false",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = crate::settings_bool::BoolSetting
    )]
    pub metrics: bool,

    /// Serve the web console at `/` (`--console=false` or `PYTH_ON_CONSOLE=false` turns it off).
    #[arg(
        long,
        env = "PYTH_ON_CONSOLE",
        default_value = "true",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = crate::settings_bool::BoolSetting
    )]
    pub console: bool,

    /// Package lists and their sandboxed builds.
    #[command(flatten)]
    pub packages: crate::packages::PackageSettings,

    /// Wrong master passwords per user and stored name per hour before 429.
    #[arg(long, env = "PYTH_ON_ZK_WRONG_PASSWORD_PER_HOUR", default_value_t = 10)]
    pub zk_wrong_password_per_hour: u32,

    /// Encrypted programs a user may store.
    #[arg(long, env = "PYTH_ON_MAX_ZK_CODE_PER_USER", default_value_t = 100)]
    pub max_zk_code_per_user: u32,

    /// Anthropic API key: when set, `/generate` uses the Anthropic Messages API.
    #[arg(long, env = "ANTHROPIC_API_KEY", hide_env_values = true)]
    pub anthropic_api_key: Option<Redacted>,

    /// Base URL of the Anthropic API (requests go to `{base}/v1/messages`).
    #[arg(
        long,
        env = "PYTH_ON_ANTHROPIC_BASE_URL",
        default_value = "https://api.anthropic.com"
    )]
    pub anthropic_base_url: String,

    /// Base URL of an OpenAI-compatible API (requests go to `{base}/chat/completions`); used
    /// when no Anthropic key is set.
    #[arg(long, env = "PYTH_ON_OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,

    /// Key for the OpenAI-compatible API, sent as a bearer token.
    #[arg(long, env = "PYTH_ON_OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<Redacted>,

    /// Model name; default: the provider's current general model.
    #[arg(long, env = "PYTH_ON_LLM_MODEL")]
    pub llm_model: Option<String>,

    /// Per-attempt timeout of a provider request, in seconds.
    #[arg(long, env = "PYTH_ON_LLM_TIMEOUT_SECS", default_value_t = 60)]
    pub llm_timeout_secs: u64,

    /// `/generate` calls per minute per user (on top of the general limit).
    #[arg(
        long,
        env = "PYTH_ON_GENERATE_RATE_LIMIT_PER_MINUTE",
        default_value_t = 10
    )]
    pub generate_rate_limit_per_minute: u32,

    /// Largest `/generate` prompt in bytes.
    #[arg(long, env = "PYTH_ON_MAX_PROMPT_BYTES", default_value_t = 16_384)]
    pub max_prompt_bytes: u64,

    /// Network egress (`PYTH_ON_EGRESS*`).
    #[command(flatten)]
    pub egress: crate::egress::EgressSettings,

    /// Client connections: timeouts and caps (`PYTH_ON_HTTP_*`, `PYTH_ON_MAX_CONNECTIONS*`).
    #[command(flatten)]
    pub connections: crate::http::connections::ConnectionSettings,
}

/// A setting that must not be printed (an API key): `Debug` shows `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(zeroize::Zeroizing<String>);

impl Redacted {
    /// The value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Redacted {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(zeroize::Zeroizing::new(s.to_string())))
    }
}

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

pub use crate::settings_error::SettingsError;

/// Name of the JWT signing-key file inside the key directory.
pub const JWT_KEY_FILE: &str = "jwt-signing.key";

/// Smallest memory limit a run may ask for.
pub const MIN_MEMORY_MB: u64 = 16;

impl Settings {
    /// The generate provider settings.
    pub fn llm_config(&self) -> pyth_on_llm::LlmConfig {
        let secret = |r: &Option<Redacted>| {
            r.as_ref()
                .filter(|r| !r.expose().trim().is_empty())
                .map(|r| secrecy::SecretString::from(r.expose().to_string()))
        };
        pyth_on_llm::LlmConfig {
            anthropic_api_key: secret(&self.anthropic_api_key),
            anthropic_base_url: self.anthropic_base_url.clone(),
            openai_base_url: self
                .openai_base_url
                .clone()
                .filter(|u| !u.trim().is_empty()),
            openai_api_key: secret(&self.openai_api_key),
            model: self.llm_model.clone().filter(|m| !m.trim().is_empty()),
            timeout: std::time::Duration::from_secs(self.llm_timeout_secs),
            ..pyth_on_llm::LlmConfig::default()
        }
    }

    /// Makes every path setting absolute against the current directory, once, at start: the
    /// data directory reaches the sandbox (package environments are bind-mounted from it),
    /// which takes absolute paths only.
    pub fn absolutize(&mut self) -> Result<(), SettingsError> {
        // An existing path is resolved (no `..`, no symlinks); a missing one made absolute.
        let abs = |flag: &'static str, p: &mut PathBuf| {
            let resolved = std::fs::canonicalize(&*p).or_else(|_| std::path::absolute(&*p));
            *p = resolved.map_err(|e| SettingsError::new(flag, format!("{}: {e}", p.display())))?;
            Ok::<(), SettingsError>(())
        };
        abs("--data-dir", &mut self.data_dir)?;
        for (flag, path) in [
            ("--key-dir", &mut self.key_dir),
            ("--runner", &mut self.runner),
            ("--package-ca-bundle", &mut self.packages.package_ca_bundle),
        ] {
            if let Some(p) = path.as_mut() {
                abs(flag, p)?;
            }
        }
        Ok(())
    }

    /// The database URL, defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("pyth-on.db").display()
            ),
        }
    }

    /// Where key material lives.
    pub fn key_dir(&self) -> PathBuf {
        self.key_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys"))
    }

    /// Warm runners per language: the setting, or the number of CPUs, at most 4.
    pub fn pool_size(&self) -> usize {
        self.pool_size.unwrap_or_else(|| {
            pyth_on_sandbox::cpus::available()
                .map_or(2, |n| n.get())
                .min(4)
        })
    }

    /// Settings for tests and embedding: every default, listening on an ephemeral port. The
    /// process environment is not read (an exported `PYTH_ON_DATABASE_URL` or
    /// `ANTHROPIC_API_KEY` changes nothing): what differs from the defaults is set explicitly.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        use clap::{Args, FromArgMatches};
        let command =
            Self::augment_args(clap::Command::new("pyth-on")).mut_args(|arg| arg.env(None::<&str>));
        let matches = command.get_matches_from(["pyth-on"]);
        let mut settings = match Self::from_arg_matches(&matches) {
            Ok(settings) => settings,
            Err(err) => err.exit(),
        };
        settings.data_dir = data_dir.into();
        settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        settings
    }
}

#[cfg(test)]
mod environment_tests {
    use super::Settings;

    #[test]
    fn settings_for_a_data_dir_ignore_the_process_environment() {
        // A variable no test sets, so setting it here cannot disturb another test.
        std::env::set_var("PYTH_ON_MAX_PACKAGES", "7");
        let settings = Settings::for_data_dir("/tmp/x");
        std::env::remove_var("PYTH_ON_MAX_PACKAGES");
        assert_eq!(settings.packages.max_packages, 50);
    }
}
