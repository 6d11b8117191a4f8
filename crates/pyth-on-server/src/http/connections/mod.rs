//! Client connections (`PYTH_ON_HTTP_*`, `PYTH_ON_MAX_CONNECTIONS*`): the settings, and the
//! accept loop that serves the router over hyper's HTTP/1 connection with bounds on what one
//! connection may hold: a complete request head within the head timeout, the next piece of a
//! body within the body timeout, an idle keep-alive connection for the keep-alive timeout, and
//! open connections overall and per client address (past a cap a new connection is answered
//! `503` and closed; established ones are untouched).
//!
//! The process's descriptor limit is raised at start to what the overall cap needs, and the cap
//! lowered when the limit cannot hold it ([`descriptors`]).

mod accept;
mod caps;
mod deadlines;
mod descriptors;

use std::time::Duration;

use clap::Args;

use crate::settings_error::SettingsError;

pub use accept::serve;

/// The connection settings (flattened into `Settings`).
#[derive(Debug, Clone, Args)]
pub struct ConnectionSettings {
    /// Seconds a client has to send a complete request head, counted from connecting or from
    /// the first byte after a keep-alive pause; past it the connection is closed.
    #[arg(
        long = "http-head-timeout-secs",
        env = "PYTH_ON_HTTP_HEAD_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub head_timeout_secs: u64,

    /// Longest wait, in seconds, for the next piece of a request body (`408` past it) or for
    /// the client to take the next piece of a response (the connection is closed).
    #[arg(
        long = "http-body-timeout-secs",
        env = "PYTH_ON_HTTP_BODY_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub body_timeout_secs: u64,

    /// Seconds a keep-alive connection may sit idle between requests before it is closed.
    #[arg(
        long = "http-keep-alive-secs",
        env = "PYTH_ON_HTTP_KEEP_ALIVE_SECS",
        default_value_t = 60
    )]
    pub keep_alive_secs: u64,

    /// Client connections open at once; past it new ones are refused (lowered at start when
    /// the descriptor limit cannot hold it).
    #[arg(
        id = "max_client_connections",
        long = "max-connections",
        env = "PYTH_ON_MAX_CONNECTIONS",
        default_value_t = 4096
    )]
    pub max_connections: u32,

    /// Connections open at once from one client address (IPv6: one /64); peers in
    /// `--trusted-proxies` count only towards `--max-connections`.
    #[arg(
        long = "max-connections-per-address",
        env = "PYTH_ON_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    pub max_connections_per_address: u32,
}

/// Longest timeout any of the connection settings may name: one hour.
const MAX_TIMEOUT_SECS: u64 = 3600;

/// Most connections the caps may name.
const MAX_CONNECTIONS: u32 = 1_000_000;

impl ConnectionSettings {
    /// Checks the settings; zero is refused everywhere.
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (name, value) in [
            ("--http-head-timeout-secs", self.head_timeout_secs),
            ("--http-body-timeout-secs", self.body_timeout_secs),
            ("--http-keep-alive-secs", self.keep_alive_secs),
        ] {
            if value == 0 || value > MAX_TIMEOUT_SECS {
                return Err(SettingsError::new(
                    name,
                    format!("must be between 1 and {MAX_TIMEOUT_SECS}"),
                ));
            }
        }
        for (name, value) in [
            ("--max-connections", self.max_connections),
            (
                "--max-connections-per-address",
                self.max_connections_per_address,
            ),
        ] {
            if value == 0 || value > MAX_CONNECTIONS {
                return Err(SettingsError::new(
                    name,
                    format!("must be between 1 and {MAX_CONNECTIONS}"),
                ));
            }
        }
        Ok(())
    }

    /// The per-connection deadlines.
    fn deadlines(&self) -> deadlines::Deadlines {
        deadlines::Deadlines {
            head: Duration::from_secs(self.head_timeout_secs),
            keep_alive: Duration::from_secs(self.keep_alive_secs),
            send: Duration::from_secs(self.body_timeout_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> ConnectionSettings {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            connections: ConnectionSettings,
        }
        Wrapper::parse_from(["pyth-on"]).connections
    }

    #[test]
    fn the_defaults_are_valid() {
        let s = defaults();
        assert!(s.validate().is_ok());
        assert_eq!(
            (s.head_timeout_secs, s.body_timeout_secs, s.keep_alive_secs),
            (10, 30, 60)
        );
        assert_eq!(
            (s.max_connections, s.max_connections_per_address),
            (4096, 256)
        );
    }

    #[test]
    fn the_flags_fit_beside_every_other_setting() {
        // clap refuses a clash (an id or a flag used twice) when the whole command is built.
        let settings = crate::Settings::for_data_dir("/nonexistent");
        assert_eq!(settings.connections.max_connections, 4096);
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn zero_is_refused_naming_the_flag() {
        type Zero = fn(&mut ConnectionSettings);
        let cases: [(&str, Zero); 5] = [
            ("--http-head-timeout-secs", |s| s.head_timeout_secs = 0),
            ("--http-body-timeout-secs", |s| s.body_timeout_secs = 0),
            ("--http-keep-alive-secs", |s| s.keep_alive_secs = 0),
            ("--max-connections", |s| s.max_connections = 0),
            ("--max-connections-per-address", |s| {
                s.max_connections_per_address = 0;
            }),
        ];
        for (flag, zero) in cases {
            let mut s = defaults();
            zero(&mut s);
            let err = s.validate().expect_err(flag);
            assert_eq!(err.name, flag);
        }
    }

    #[test]
    fn timeouts_past_an_hour_are_refused() {
        let mut s = defaults();
        s.keep_alive_secs = MAX_TIMEOUT_SECS + 1;
        assert_eq!(
            s.validate().expect_err("refused").name,
            "--http-keep-alive-secs"
        );
    }
}
