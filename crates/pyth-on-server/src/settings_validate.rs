//! Checking the settings together before the server starts: each group of settings in a
//! step of its own, the first error refusing the start with the setting's flag name.

use crate::settings::{Settings, SettingsError, MIN_MEMORY_MB};

impl Settings {
    /// Checks every setting together; the server refuses to start on the first error.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.egress.validate()?;
        self.connections.validate()?;
        self.database.validate()?;
        self.validate_requests()?;
        self.files.validate(self.max_output_bytes)?;
        self.validate_run_limits()?;
        self.runs.validate()?;
        self.sessions.validate()?;
        self.validate_accounts()?;
        self.registration.validate()?;
        self.validate_pool()?;
        self.packages.validate()?;
        self.validate_generate()?;
        self.validate_database_url()
    }

    /// Rate limits and request sizes.
    fn validate_requests(&self) -> Result<(), SettingsError> {
        at_least("--rate-limit-per-minute", self.rate_limit_per_minute, 1)?;
        at_least(
            "--auth-rate-limit-per-minute",
            self.auth_rate_limit_per_minute,
            1,
        )?;
        at_least("--max-body-bytes", self.max_body_bytes, 1024)?;
        if self.max_code_bytes == 0 || self.max_code_bytes > self.max_body_bytes {
            return Err(bad(
                "--max-code-bytes",
                "must be between 1 and --max-body-bytes",
            ));
        }
        Ok(())
    }

    /// Output, time and memory limits of runs.
    fn validate_run_limits(&self) -> Result<(), SettingsError> {
        at_least("--max-output-bytes", self.max_output_bytes, 1024)?;
        if self.max_timeout_ms == 0 || self.max_timeout_ms > 3_600_000 {
            return Err(bad("--max-timeout-ms", "must be between 1 and 3600000"));
        }
        if self.default_timeout_ms == 0 || self.default_timeout_ms > self.max_timeout_ms {
            return Err(bad(
                "--default-timeout-ms",
                "must be between 1 and --max-timeout-ms",
            ));
        }
        at_least("--max-memory-mb", self.max_memory_mb, MIN_MEMORY_MB)?;
        if self.default_memory_mb < MIN_MEMORY_MB || self.default_memory_mb > self.max_memory_mb {
            return Err(bad(
                "--default-memory-mb",
                format!("must be between {MIN_MEMORY_MB} and --max-memory-mb"),
            ));
        }
        at_least("--shutdown-grace-secs", self.shutdown_grace_secs, 1)
    }

    /// Secrets, tokens and encrypted code.
    fn validate_accounts(&self) -> Result<(), SettingsError> {
        if self.max_secret_bytes == 0 || self.max_secret_bytes > 1_048_576 {
            return Err(bad("--max-secret-bytes", "must be between 1 and 1048576"));
        }
        if self.access_token_ttl_secs == 0 || self.access_token_ttl_secs > 900 {
            return Err(bad(
                "--access-token-ttl-secs",
                "must be between 1 and 900 (15 minutes)",
            ));
        }
        if self.refresh_token_ttl_days == 0 || self.refresh_token_ttl_days > 365 {
            return Err(bad("--refresh-token-ttl-days", "must be between 1 and 365"));
        }
        at_least(
            "--zk-wrong-password-per-hour",
            self.zk_wrong_password_per_hour,
            1,
        )?;
        at_least("--max-zk-code-per-user", self.max_zk_code_per_user, 1)
    }

    /// The warm pool.
    fn validate_pool(&self) -> Result<(), SettingsError> {
        if self.pool_size.is_some_and(|n| n > 64) {
            return Err(bad("--pool-size", "must be at most 64"));
        }
        at_least("--pool-refill-concurrency", self.pool_refill_concurrency, 1)?;
        at_least("--pool-idle-secs", self.pool_idle_secs, 1)
    }

    /// The generate provider and its limits.
    fn validate_generate(&self) -> Result<(), SettingsError> {
        if self.llm_timeout_secs == 0 || self.llm_timeout_secs > 600 {
            return Err(bad("--llm-timeout-secs", "must be between 1 and 600"));
        }
        at_least(
            "--generate-rate-limit-per-minute",
            self.generate_rate_limit_per_minute,
            1,
        )?;
        if self.max_prompt_bytes == 0 || self.max_prompt_bytes > self.max_body_bytes {
            return Err(bad(
                "--max-prompt-bytes",
                "must be between 1 and --max-body-bytes",
            ));
        }
        for (name, url) in [
            ("--anthropic-base-url", Some(&self.anthropic_base_url)),
            ("--openai-base-url", self.openai_base_url.as_ref()),
        ] {
            if url.is_some_and(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
                return Err(bad(name, "must be an http:// or https:// URL"));
            }
        }
        Ok(())
    }

    /// The database URL's scheme.
    fn validate_database_url(&self) -> Result<(), SettingsError> {
        let Some(url) = &self.database_url else {
            return Ok(());
        };
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if !known.iter().any(|scheme| url.starts_with(scheme)) {
            return Err(bad(
                "--database-url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        Ok(())
    }
}

fn bad(name: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::new(name, reason)
}

/// `value` must be at least `min`.
fn at_least<T>(name: &'static str, value: T, min: T) -> Result<(), SettingsError>
where
    T: PartialOrd + std::fmt::Display,
{
    if value < min {
        return Err(bad(name, format!("must be at least {min}")));
    }
    Ok(())
}
