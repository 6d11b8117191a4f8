//! Accounts and operators: a user's role and secrets default, sign-ins (refresh-token
//! families), and invitations for invite-only registration.

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};

/// What a user may do beyond their own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// Their own account only.
    #[default]
    User,
    /// Every account: list, create, disable, delete, set quotas, invite.
    Admin,
}

impl Role {
    /// The stored (and API) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    pub(crate) fn from_db(value: &str) -> StoreResult<Self> {
        match value {
            "user" => Ok(Self::User),
            "admin" => Ok(Self::Admin),
            other => Err(StoreError::corrupt("role", other)),
        }
    }
}

/// Which secrets a run that names none receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecretsDefault {
    /// Every secret of the user (the behaviour before runs could name them).
    #[default]
    All,
    /// None: a run gets only the secrets it names.
    None,
}

impl SecretsDefault {
    /// The stored (and API) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::None => "none",
        }
    }

    pub(crate) fn from_db(value: &str) -> StoreResult<Self> {
        match value {
            "all" => Ok(Self::All),
            "none" => Ok(Self::None),
            other => Err(StoreError::corrupt("secrets_default", other)),
        }
    }
}

/// One sign-in: a refresh-token family that is neither revoked nor expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// The family's id (what the access tokens it issues carry as `sid`).
    pub id: Uuid,
    /// When the user signed in (the family's first token).
    pub created_at: OffsetDateTime,
    /// The last refresh (the family's newest token).
    pub last_used_at: OffsetDateTime,
    /// When the newest token expires.
    pub expires_at: OffsetDateTime,
    /// Client address of the newest token's request.
    pub ip: Option<String>,
    /// `User-Agent` of the newest token's request.
    pub user_agent: Option<String>,
}

/// An invitation to insert; only the hash of its code is stored.
#[derive(Clone)]
pub struct NewInvitation {
    /// Primary key.
    pub id: Uuid,
    /// SHA-256 of the code, unique.
    pub code_hash: Vec<u8>,
    /// The admin who created it.
    pub created_by: Uuid,
    /// A free-text note (who it is for).
    pub note: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// It cannot be used at and after this instant.
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for NewInvitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewInvitation")
            .field("id", &self.id)
            .field("created_by", &self.created_by)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A stored invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Primary key.
    pub id: Uuid,
    /// The admin who created it.
    pub created_by: Uuid,
    /// Its note.
    pub note: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// When it was used, if it was.
    pub used_at: Option<OffsetDateTime>,
    /// The account it created, if it was used.
    pub used_by: Option<Uuid>,
}

/// A user as the admin list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    /// Id.
    pub id: Uuid,
    /// Email.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// When disabled, if disabled.
    pub disabled_at: Option<OffsetDateTime>,
}
