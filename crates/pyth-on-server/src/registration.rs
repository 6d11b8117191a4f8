//! Who may create an account: the registration mode (`PYTH_ON_REGISTRATION`) and the lifetime
//! of invitations. Unset, the mode follows the listen address: `open` when only this machine
//! can connect (a loopback address), `invite` otherwise, so a server put on a network is never
//! open to anyone who reaches its port unless the operator says so.

use std::net::SocketAddr;

use clap::{Args, ValueEnum};

use crate::settings_error::SettingsError;

/// Longest invitation lifetime, in hours (30 days).
pub const MAX_INVITATION_TTL_HOURS: u64 = 720;

/// How `POST /api/register` behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RegistrationMode {
    /// Anyone who reaches the server may create an account.
    Open,
    /// Only with an unused, unexpired invitation code an admin created.
    Invite,
    /// Nobody: admins create accounts (`POST /api/v1/admin/users`, `pyth-on users create`).
    Closed,
}

impl RegistrationMode {
    /// How `GET /api/info` says it.
    pub fn wire(self) -> pyth_on_types::Registration {
        match self {
            Self::Open => pyth_on_types::Registration::Open,
            Self::Invite => pyth_on_types::Registration::Invite,
            Self::Closed => pyth_on_types::Registration::Closed,
        }
    }

    /// Its name in settings and in the start-up log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Invite => "invite",
            Self::Closed => "closed",
        }
    }
}

/// Registration settings.
#[derive(Debug, Clone, Args)]
pub struct RegistrationSettings {
    /// `open`, `invite` or `closed`; default: `open` on a loopback listen address, `invite`
    /// otherwise.
    #[arg(long = "registration", env = "PYTH_ON_REGISTRATION", value_enum)]
    pub registration: Option<RegistrationMode>,

    /// Hours an invitation stays usable unless its creator asks for another lifetime.
    #[arg(long, env = "PYTH_ON_INVITATION_TTL_HOURS", default_value_t = 168)]
    pub invitation_ttl_hours: u64,
}

impl RegistrationSettings {
    /// The mode in force for a server listening on `listen`.
    pub fn mode(&self, listen: SocketAddr) -> RegistrationMode {
        self.registration.unwrap_or(if listen.ip().is_loopback() {
            RegistrationMode::Open
        } else {
            RegistrationMode::Invite
        })
    }

    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.invitation_ttl_hours == 0 || self.invitation_ttl_hours > MAX_INVITATION_TTL_HOURS {
            return Err(SettingsError::new(
                "--invitation-ttl-hours",
                format!("must be between 1 and {MAX_INVITATION_TTL_HOURS}"),
            ));
        }
        Ok(())
    }
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        Self {
            registration: None,
            invitation_ttl_hours: 168,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_mode_is_open_on_loopback_and_invite_elsewhere() {
        let settings = RegistrationSettings::default();
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let v6_loopback: SocketAddr = "[::1]:8080".parse().unwrap();
        let anywhere: SocketAddr = "0.0.0.0:8080".parse().unwrap();

        assert_eq!(settings.mode(loopback), RegistrationMode::Open);
        assert_eq!(settings.mode(v6_loopback), RegistrationMode::Open);
        assert_eq!(settings.mode(anywhere), RegistrationMode::Invite);
    }

    #[test]
    fn a_chosen_mode_wins_over_the_listen_address() {
        let settings = RegistrationSettings {
            registration: Some(RegistrationMode::Closed),
            ..RegistrationSettings::default()
        };
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();

        assert_eq!(settings.mode(loopback), RegistrationMode::Closed);
    }

    #[test]
    fn an_invitation_lifetime_out_of_bounds_is_refused() {
        for hours in [0, MAX_INVITATION_TTL_HOURS + 1] {
            let settings = RegistrationSettings {
                invitation_ttl_hours: hours,
                ..RegistrationSettings::default()
            };
            let err = settings.validate().unwrap_err();
            assert_eq!(err.name, "--invitation-ttl-hours");
        }
    }
}
