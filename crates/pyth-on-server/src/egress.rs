//! Network egress for runs (`PYTH_ON_EGRESS*`): the settings, the operator's policy built from
//! them once at start-up, and the per-run proxy socket a run with `"network": true` gets. The
//! proxy itself lives in `pyth_on_egress`; the sandbox side in `pyth_on_sandbox::egress`.
//!
//! The per-user bytes-per-hour budget is a GCRA bucket in the database (`egress:<user id>`,
//! one cell per 64 KiB), so every node on one database draws from the same allowance.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use pyth_on_egress::meter::BUDGET_CHUNK;
use pyth_on_egress::{Bounds, ByteBudget, HostPattern, Policy, RunListener, RunProxy};
use pyth_on_store::Store;
use uuid::Uuid;

use crate::settings_error::SettingsError;

/// `PYTH_ON_EGRESS`, a boolean setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgressMode {
    /// Runs have no network (`"network": true` is a 400 `network_disabled`).
    Off,
    /// Runs that ask for it reach out through the policy proxy.
    On,
}

impl From<bool> for EgressMode {
    fn from(on: bool) -> Self {
        if on {
            Self::On
        } else {
            Self::Off
        }
    }
}

/// The egress settings (flattened into `Settings`).
#[derive(Debug, Clone, Args)]
pub struct EgressSettings {
    /// `true` lets runs that ask for `"network": true` reach out through the policy proxy.
    #[arg(
        long = "egress",
        env = "PYTH_ON_EGRESS",
        default_value = "false",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::TypedValueParser::map(
            crate::settings_bool::BoolSetting,
            EgressMode::from
        )
    )]
    pub mode: EgressMode,

    /// Hosts runs may reach (comma-separated; `*.example.com` for names below); default any
    /// public host.
    #[arg(
        long = "egress-allow",
        env = "PYTH_ON_EGRESS_ALLOW",
        default_value = ""
    )]
    pub allow: String,

    /// Hosts (patterns), IP addresses and CIDRs runs may never reach, on top of the built-in
    /// private, loopback, link-local, multicast and reserved ranges.
    #[arg(long = "egress-deny", env = "PYTH_ON_EGRESS_DENY", default_value = "")]
    pub deny: String,

    /// `address:port` pairs reachable despite the private-range rule (an internal service).
    #[arg(
        long = "egress-exempt",
        env = "PYTH_ON_EGRESS_EXEMPT",
        default_value = ""
    )]
    pub exempt: String,

    /// Outgoing connections per run.
    #[arg(
        long = "egress-max-connections",
        env = "PYTH_ON_EGRESS_MAX_CONNECTIONS",
        default_value_t = 64
    )]
    pub max_connections: u64,

    /// Requests per run read by the proxy, refused ones included; more get 429.
    #[arg(
        long = "egress-max-requests",
        env = "PYTH_ON_EGRESS_MAX_REQUESTS",
        default_value_t = 256
    )]
    pub max_requests: u64,

    /// Bytes per run, both directions.
    #[arg(
        long = "egress-max-bytes",
        env = "PYTH_ON_EGRESS_MAX_BYTES",
        default_value_t = 64 << 20
    )]
    pub max_bytes: u64,

    /// Longest a run's egress may last, in seconds (the run's own timeout also ends it).
    #[arg(
        long = "egress-max-secs",
        env = "PYTH_ON_EGRESS_MAX_SECS",
        default_value_t = 60
    )]
    pub max_secs: u64,

    /// Ports `CONNECT` (TLS tunnels) may reach, comma-separated.
    #[arg(
        long = "egress-connect-ports",
        env = "PYTH_ON_EGRESS_CONNECT_PORTS",
        value_delimiter = ',',
        default_value = "443"
    )]
    pub connect_ports: Vec<u16>,

    /// Bytes per user per hour across all nodes (drawn in 64 KiB steps).
    #[arg(
        long = "egress-user-bytes-per-hour",
        env = "PYTH_ON_EGRESS_USER_BYTES_PER_HOUR",
        default_value_t = 1 << 30
    )]
    pub user_bytes_per_hour: u64,

    /// Directory for the per-run proxy sockets (made `0700`).
    #[arg(
        long = "egress-socket-dir",
        env = "PYTH_ON_EGRESS_SOCKET_DIR",
        default_value = "/run/pyth-on/egress"
    )]
    pub socket_dir: PathBuf,
}

impl EgressSettings {
    /// Checks the settings; the policy lists are parsed even when egress is off, so a typo
    /// is found before someone turns it on.
    pub fn validate(&self) -> Result<Policy, SettingsError> {
        Policy::parse(&self.allow, "", "")
            .map_err(|e| SettingsError::new("--egress-allow", e.to_string()))?;
        Policy::parse("", &self.deny, "")
            .map_err(|e| SettingsError::new("--egress-deny", e.to_string()))?;
        Policy::parse("", "", &self.exempt)
            .map_err(|e| SettingsError::new("--egress-exempt", e.to_string()))?;
        for (name, value) in [
            ("--egress-max-connections", self.max_connections),
            ("--egress-max-requests", self.max_requests),
            ("--egress-max-bytes", self.max_bytes),
            ("--egress-max-secs", self.max_secs),
        ] {
            if value == 0 {
                return Err(SettingsError::new(name, "must be at least 1"));
            }
        }
        if self.connect_ports.is_empty() || self.connect_ports.contains(&0) {
            return Err(SettingsError::new(
                "--egress-connect-ports",
                "must list ports between 1 and 65535",
            ));
        }
        if self.user_bytes_per_hour < BUDGET_CHUNK {
            return Err(SettingsError::new(
                "--egress-user-bytes-per-hour",
                format!("must be at least {BUDGET_CHUNK}"),
            ));
        }
        if self.user_bytes_per_hour / BUDGET_CHUNK > u64::from(u32::MAX) {
            return Err(SettingsError::new(
                "--egress-user-bytes-per-hour",
                "is too large",
            ));
        }
        if !self.socket_dir.is_absolute() || self.socket_dir.as_os_str().len() > 60 {
            return Err(SettingsError::new(
                "--egress-socket-dir",
                "must be an absolute path of at most 60 bytes (Unix socket paths are short)",
            ));
        }
        Policy::parse(&self.allow, &self.deny, &self.exempt)
            .map_err(|e| SettingsError::new("--egress-allow", e.to_string()))
    }
}

/// Egress, switched on: the policy and bounds every run shares.
#[derive(Debug)]
pub struct Egress {
    policy: Arc<Policy>,
    bounds: Bounds,
    connect_ports: Vec<u16>,
    socket_dir: PathBuf,
    bytes_per_hour: u64,
}

impl Egress {
    /// `None` when egress is off. `listen` is the API's address: refused even when exempt
    /// (for a wildcard address, its port on every address of this host); the host's other
    /// ports are refused unless exempt.
    pub fn from_settings(
        s: &EgressSettings,
        listen: SocketAddr,
    ) -> Result<Option<Self>, SettingsError> {
        let policy = s.validate()?;
        if s.mode == EgressMode::Off {
            return Ok(None);
        }
        let (listen, host_ips) = server_addresses(listen);
        pyth_on_egress::prepare_dir(&s.socket_dir)
            .map_err(|e| SettingsError::new("--egress-socket-dir", e.to_string()))?;
        Ok(Some(Self {
            policy: Arc::new(policy.with_server(listen, host_ips)),
            bounds: Bounds {
                max_connections: s.max_connections,
                max_requests: s.max_requests,
                max_bytes: s.max_bytes,
                max_duration: Duration::from_secs(s.max_secs),
            },
            connect_ports: s.connect_ports.clone(),
            socket_dir: s.socket_dir.clone(),
            bytes_per_hour: s.user_bytes_per_hour,
        }))
    }

    /// Starts the proxy of one run for `user` (narrowed by the user's own allow-list, if
    /// any); the socket's path goes into the job.
    pub fn start(
        &self,
        store: Arc<dyn Store>,
        user: Uuid,
        run: Uuid,
        narrow: Option<Vec<HostPattern>>,
    ) -> Result<RunListener, pyth_on_egress::ListenerError> {
        let budget = UserBudget {
            store,
            key: format!("egress:{user}"),
            cells_per_hour: u32::try_from(self.bytes_per_hour / BUDGET_CHUNK).unwrap_or(u32::MAX),
        };
        let mut proxy = RunProxy::new(self.policy.clone(), self.bounds)
            .with_budget(Arc::new(budget))
            .with_connect_ports(self.connect_ports.clone());
        if let Some(list) = narrow {
            proxy = proxy.with_narrowing(list);
        }
        RunListener::bind(&self.socket_dir, &run.to_string(), proxy)
    }
}

/// A user's hourly byte allowance: the database's GCRA bucket, one cell per 64 KiB.
struct UserBudget {
    store: Arc<dyn Store>,
    key: String,
    cells_per_hour: u32,
}

impl std::fmt::Debug for UserBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserBudget")
            .field("key", &self.key)
            .finish()
    }
}

#[async_trait::async_trait]
impl ByteBudget for UserBudget {
    async fn take(&self, bytes: u64) -> bool {
        let cells = bytes.div_ceil(BUDGET_CHUNK).max(1);
        let interval = (3_600_000 / i64::from(self.cells_per_hour.max(1))).max(1);
        for _ in 0..cells {
            let now = crate::clock::now_ms();
            match self
                .store
                .rate_limit(&self.key, now, interval, self.cells_per_hour)
                .await
            {
                Ok(d) if d.allowed => {}
                Ok(_) => return false,
                Err(e) => {
                    // Fail closed: no budget answer, no bytes.
                    tracing::warn!(error = %e, "egress budget unavailable");
                    return false;
                }
            }
        }
        true
    }
}

/// The API's own addresses (for a wildcard `listen`, its port on every address of this
/// host) and the host's addresses: what every proxy refuses (see [`Policy::with_server`]).
pub fn server_addresses(listen: SocketAddr) -> (Vec<SocketAddr>, Vec<IpAddr>) {
    let host_ips = local_addresses();
    let listen = if listen.ip().is_unspecified() {
        host_ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, listen.port()))
            .collect()
    } else {
        vec![listen]
    };
    (listen, host_ips)
}

/// This host's addresses (for a server listening on a wildcard address), from
/// `/proc/net/fib_trie` (IPv4 `host LOCAL` entries) and `/proc/net/if_inet6`. Best effort:
/// loopback and private ranges are refused anyway; this adds the public ones.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(trie) = std::fs::read_to_string("/proc/net/fib_trie") {
        let mut last: Option<IpAddr> = None;
        for line in trie.lines() {
            let t = line.trim_start_matches([' ', '|', '+', '-']);
            if let Ok(ip) = t.trim().parse::<IpAddr>() {
                last = Some(ip);
            } else if line.contains("/32 host LOCAL") {
                out.extend(last);
            }
        }
    }
    if let Ok(v6) = std::fs::read_to_string("/proc/net/if_inet6") {
        for line in v6.lines() {
            let hex = line.split_whitespace().next().unwrap_or_default();
            if let Ok(n) = u128::from_str_radix(hex, 16) {
                if hex.len() == 32 {
                    out.push(IpAddr::V6(n.into()));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EgressSettings {
        crate::Settings::for_data_dir("/tmp/unused").egress
    }

    #[test]
    fn bad_egress_settings_name_the_flag_and_the_entry() {
        type Case = (fn(&mut EgressSettings), &'static str, &'static str);
        let cases: [Case; 6] = [
            (|s| s.allow = "*.".into(), "--egress-allow", "\"*.\""),
            (
                |s| s.deny = "10.0.0.0/33".into(),
                "--egress-deny",
                "10.0.0.0/33",
            ),
            (
                |s| s.exempt = "localhost:80".into(),
                "--egress-exempt",
                "localhost:80",
            ),
            (|s| s.max_bytes = 0, "--egress-max-bytes", "at least 1"),
            (
                |s| s.max_requests = 0,
                "--egress-max-requests",
                "at least 1",
            ),
            (
                |s| s.socket_dir = "relative".into(),
                "--egress-socket-dir",
                "absolute",
            ),
        ];
        for (tweak, flag, needle) in cases {
            let mut s = settings();
            tweak(&mut s);
            let err = s.validate().expect_err("must be refused");
            assert_eq!(err.name, flag);
            assert!(err.to_string().contains(needle), "{err}");
            assert!(!err.to_string().contains('\n'));
        }
        assert!(settings().validate().is_ok());
        assert_eq!(settings().mode, EgressMode::Off);
    }

    #[test]
    fn this_hosts_addresses_include_loopback_of_both_families_when_present() {
        let addrs = local_addresses();
        assert!(
            addrs.contains(&"127.0.0.1".parse().expect("ip")),
            "{addrs:?}"
        );
    }
}
