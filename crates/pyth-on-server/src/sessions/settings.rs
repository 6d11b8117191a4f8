//! The bounds on sessions (`PYTH_ON_MAX_SESSIONS*`, `PYTH_ON_SESSION_*`).

use std::time::Duration;

use clap::Args;

use crate::settings_error::SettingsError;

/// Longest idle timeout the setting may give.
pub const MAX_IDLE_TIMEOUT_SECS: u64 = 3600;
/// Longest lifetime the setting may give.
pub const MAX_LIFETIME_SECS: u64 = 86_400;
/// Smallest sessions' memory budget: room for one session of the least memory a run may ask
/// for (the server's minimum `memoryMb`, 16 MiB).
pub const MIN_BUDGET_MB: u64 = 16;

/// How many sessions may be open, and for how long.
#[derive(Debug, Clone, Args)]
pub struct SessionSettings {
    /// Sessions one user may hold open on this node.
    #[arg(long, env = "PYTH_ON_MAX_SESSIONS_PER_USER", default_value_t = 4)]
    pub max_sessions_per_user: usize,

    /// Sessions open on this node at once.
    #[arg(long, env = "PYTH_ON_MAX_SESSIONS", default_value_t = 32)]
    pub max_sessions: usize,

    /// Seconds without a cell after which a session ends: the default and the most a session
    /// may ask for.
    #[arg(long, env = "PYTH_ON_SESSION_IDLE_TIMEOUT_SECS", default_value_t = 600)]
    pub session_idle_timeout_secs: u64,

    /// Seconds after which a session ends: the default and the most a session may ask for.
    #[arg(
        long,
        env = "PYTH_ON_SESSION_MAX_LIFETIME_SECS",
        default_value_t = 3600
    )]
    pub session_max_lifetime_secs: u64,

    /// MiB of memory the sessions open on this node may ask for in all (the sum of their
    /// `memoryMb`, sessions being opened included); past it a new session is refused with
    /// 503 `sessions_full`. Default: half of this machine's memory.
    #[arg(long, env = "PYTH_ON_SESSIONS_MEMORY_MB")]
    pub sessions_memory_mb: Option<u64>,

    /// This node's advertised internal base URL (`http://10.0.0.5:8080`), for nodes sharing a
    /// database: its sessions are put on the record under it, and the other nodes forward
    /// requests for them there. Unset: sessions are this node's alone (a single node).
    #[arg(long, env = "PYTH_ON_NODE_URL")]
    pub node_url: Option<String>,
}

impl SessionSettings {
    /// Checks every value; `Err` names the flag.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.max_sessions_per_user == 0 || self.max_sessions_per_user > self.max_sessions {
            return Err(SettingsError::new(
                "--max-sessions-per-user",
                "must be between 1 and --max-sessions",
            ));
        }
        if self.session_idle_timeout_secs == 0
            || self.session_idle_timeout_secs > MAX_IDLE_TIMEOUT_SECS
        {
            return Err(SettingsError::new(
                "--session-idle-timeout-secs",
                format!("must be between 1 and {MAX_IDLE_TIMEOUT_SECS}"),
            ));
        }
        if self.session_max_lifetime_secs == 0 || self.session_max_lifetime_secs > MAX_LIFETIME_SECS
        {
            return Err(SettingsError::new(
                "--session-max-lifetime-secs",
                format!("must be between 1 and {MAX_LIFETIME_SECS}"),
            ));
        }
        if let Some(url) = &self.node_url {
            check_node_url(url)?;
        }
        if self.sessions_memory_mb.is_some_and(|mb| mb < MIN_BUDGET_MB) {
            return Err(SettingsError::new(
                "--sessions-memory-mb",
                format!("must be at least {MIN_BUDGET_MB}"),
            ));
        }
        Ok(())
    }

    /// The memory budget of this node's sessions in MiB: the setting, or half of the
    /// machine's memory (`MemTotal` of `/proc/meminfo`; 4096 if it cannot be read).
    pub fn memory_budget_mb(&self) -> u64 {
        self.sessions_memory_mb.unwrap_or_else(|| {
            let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
            let total_kb = meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
            total_kb.map_or(4096, |kb| kb / 1024 / 2)
        })
    }

    /// The idle timeout sessions get by default.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.session_idle_timeout_secs)
    }

    /// The lifetime sessions get by default.
    pub fn max_lifetime(&self) -> Duration {
        Duration::from_secs(self.session_max_lifetime_secs)
    }
}

/// A node URL is an `http://` or `https://` base URL with a host: no credentials, query or
/// fragment (a path prefix is allowed, for a node behind a path-routing proxy).
fn check_node_url(raw: &str) -> Result<(), SettingsError> {
    let bad = |why: &str| SettingsError::new("--node-url", why.to_owned());
    let url = url::Url::parse(raw).map_err(|e| bad(&format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("must be an http:// or https:// URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not hold credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or a fragment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        s: SessionSettings,
    }

    #[test]
    fn the_defaults_are_valid_and_out_of_range_values_are_refused() {
        let mut s = Cli::parse_from(["x"]).s;
        assert!(s.validate().is_ok());
        assert_eq!((s.max_sessions_per_user, s.max_sessions), (4, 32));
        s.session_idle_timeout_secs = 3601;
        assert!(s.validate().is_err());
        s.session_idle_timeout_secs = 1;
        s.session_max_lifetime_secs = 86_401;
        assert!(s.validate().is_err());
        s.session_max_lifetime_secs = 86_400;
        s.max_sessions_per_user = 33;
        assert!(s.validate().is_err());
    }

    #[test]
    fn a_node_url_must_be_an_http_base_url_without_credentials_or_query() {
        let mut s = Cli::parse_from(["x"]).s;
        assert_eq!(s.node_url, None);
        for good in [
            "http://10.0.0.5:8080",
            "https://node-a.internal/",
            "http://a/pyth-on",
        ] {
            s.node_url = Some(good.into());
            assert!(s.validate().is_ok(), "{good}");
        }
        for bad in [
            "10.0.0.5:8080",
            "ftp://a",
            "http://u:p@a",
            "http://a/?x=1",
            "http://a/#f",
        ] {
            s.node_url = Some(bad.into());
            assert!(s.validate().is_err(), "{bad}");
        }
    }
}
