//! The database's time bounds (`PYTH_ON_DATABASE_*_TIMEOUT_MS`), flattened into the server's
//! `Settings`: a database that stops answering costs a request at most these, then a 503
//! `database_unavailable`.

use std::time::Duration;

use clap::Args;

use crate::settings_error::SettingsError;

/// How long the server waits on its database.
#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// Longest wait (milliseconds) for a free database connection.
    #[arg(
        long,
        env = "PYTH_ON_DATABASE_ACQUIRE_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub database_acquire_timeout_ms: u64,

    /// Longest time (milliseconds) one database call may take, a statement or a short
    /// transaction, waiting for its connection included; on PostgreSQL also the server's
    /// `statement_timeout`.
    #[arg(
        long,
        env = "PYTH_ON_DATABASE_STATEMENT_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub database_statement_timeout_ms: u64,
}

impl DatabaseSettings {
    /// Checks every value; `Err` names the flag.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !(100..=600_000).contains(&self.database_acquire_timeout_ms) {
            return Err(SettingsError::new(
                "--database-acquire-timeout-ms",
                "must be between 100 and 600000",
            ));
        }
        if !(100..=600_000).contains(&self.database_statement_timeout_ms) {
            return Err(SettingsError::new(
                "--database-statement-timeout-ms",
                "must be between 100 and 600000",
            ));
        }
        Ok(())
    }

    /// The store's pool options with these bounds.
    pub fn connect_options(&self) -> pyth_on_store::ConnectOptions {
        pyth_on_store::ConnectOptions {
            acquire_timeout: Duration::from_millis(self.database_acquire_timeout_ms),
            statement_timeout: Some(Duration::from_millis(self.database_statement_timeout_ms)),
            ..pyth_on_store::ConnectOptions::default()
        }
    }
}
