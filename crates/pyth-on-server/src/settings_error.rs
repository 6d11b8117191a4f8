//! [`SettingsError`]: the one error of settings validation, naming the flag. Its own module so
//! the setting groups flattened into `Settings` (egress, connections, runs, packages) and
//! `Settings` itself share it without depending on each other.

/// The first problem found in a setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {reason}")]
pub struct SettingsError {
    /// The flag name.
    pub name: &'static str,
    /// Why it is refused.
    pub reason: String,
}

impl SettingsError {
    /// The error for flag `name`.
    pub fn new(name: &'static str, reason: impl Into<String>) -> Self {
        Self {
            name,
            reason: reason.into(),
        }
    }
}
