//! [`Caller`]: who a request acts for, as services see it (the HTTP layer authenticates and
//! builds it).

use std::net::IpAddr;

use pyth_on_store::{Role, SecretsDefault};
use uuid::Uuid;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// An access JWT.
    Jwt,
    /// An API key, by id.
    ApiKey(Uuid),
}

impl AuthMethod {
    /// The audit log's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::ApiKey(_) => "api_key",
        }
    }

    /// The key id, if a key was used.
    pub fn api_key_id(self) -> Option<Uuid> {
        match self {
            Self::Jwt => None,
            Self::ApiKey(id) => Some(id),
        }
    }
}

/// The authenticated caller of a `/api/v1/*` request: who they are, how they proved it, and
/// from where. Services take it; the HTTP layer (`http::auth`) makes it.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The user.
    pub user_id: Uuid,
    /// JWT or API key.
    pub method: AuthMethod,
    /// The client address.
    pub ip: IpAddr,
    /// The user's role when the request was authenticated.
    pub role: Role,
    /// Which secrets a run of theirs naming none receives.
    pub secrets_default: SecretsDefault,
    /// The sign-in (refresh-token family) of the access token, when a JWT carrying one was
    /// used.
    pub sign_in: Option<Uuid>,
}
