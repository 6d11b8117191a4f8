//! Account self-service (settings, password, sign-ins, deletion) and administration (users,
//! roles, invitations) bodies.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// What an account may do beyond itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    /// Its own account only.
    #[default]
    User,
    /// Every account (`/api/v1/admin/...`).
    Admin,
}

/// Which secrets a run, session or generate request that names none receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SecretsDefault {
    /// Every secret of the account (the default, and the behaviour before runs could name
    /// them).
    #[default]
    All,
    /// None: a run receives only the secrets it names in `secrets`.
    None,
}

/// Body of `POST /api/register`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    /// An email address, at most 254 bytes (64 before the `@`); compared case-insensitively.
    #[schema(
        example = "ada@example.com",
        max_length = 254,
        pattern = r"^[^\s@\x00-\x1f\x7f-\x9f]{1,64}@[^\s@.\x00-\x1f\x7f-\x9f]+(\.[^\s@.\x00-\x1f\x7f-\x9f]+)+$"
    )]
    pub email: String,
    /// 12 characters to 1024 bytes.
    #[schema(example = "correct horse battery staple", format = Password, min_length = 12, max_length = 1024)]
    pub password: String,
    /// The invitation code an admin gave you: required when the server's registration mode
    /// is `invite` (see `GET /api/info`), ignored in `open` mode.
    #[serde(default)]
    #[schema(format = Password)]
    pub invitation: Option<String>,
}

impl std::fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Body of `PUT /api/v1/me/settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountSettings {
    /// Which secrets a request that names none receives.
    pub secrets_default: SecretsDefault,
}

/// Body of `POST /api/v1/me/password`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordChangeRequest {
    /// The password in use now.
    #[schema(format = Password)]
    pub current_password: String,
    /// The new one: 12 characters to 1024 bytes.
    #[schema(format = Password, min_length = 12, max_length = 1024)]
    pub new_password: String,
}

impl std::fmt::Debug for PasswordChangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChangeRequest { .. }")
    }
}

/// Body of `DELETE /api/v1/me`: the password again, so a stolen access token alone cannot
/// delete an account.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteAccountRequest {
    /// The account's password.
    #[schema(format = Password)]
    pub password: String,
}

impl std::fmt::Debug for DeleteAccountRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeleteAccountRequest { .. }")
    }
}

/// One sign-in: a browser or client holding a refresh token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignInInfo {
    /// Its id (`DELETE /api/v1/me/sign-ins/{id}` ends it).
    pub id: Uuid,
    /// When the user signed in.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Its last token refresh (or the sign-in itself).
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
    /// When it ends unless refreshed.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Client address of its last refresh.
    pub ip: Option<String>,
    /// `User-Agent` of its last refresh.
    pub user_agent: Option<String>,
    /// True for the sign-in of the access token that asked.
    pub current: bool,
}

/// Answer of `GET /api/v1/me/sign-ins`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignInList {
    /// Newest first.
    pub sign_ins: Vec<SignInInfo>,
}

/// An account as an admin sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminUser {
    /// Id.
    pub id: Uuid,
    /// Email.
    pub email: String,
    /// Role.
    pub role: UserRole,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was disabled; absent when enabled.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub disabled_at: Option<OffsetDateTime>,
    /// Its use of each quota today (in the list; absent in other answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::Usage>,
}

/// Answer of `GET /api/v1/admin/users`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminUserList {
    /// In creation order.
    pub users: Vec<AdminUser>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<Uuid>,
}

/// Body of `POST /api/v1/admin/users`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminCreateUser {
    /// The new account's email (the rules of `POST /api/register`).
    #[schema(
        example = "ada@example.com",
        max_length = 254,
        pattern = r"^[^\s@\x00-\x1f\x7f-\x9f]{1,64}@[^\s@.\x00-\x1f\x7f-\x9f]+(\.[^\s@.\x00-\x1f\x7f-\x9f]+)+$"
    )]
    pub email: String,
    /// Its password, 12 characters to 1024 bytes; absent: one is generated and answered once.
    #[serde(default)]
    #[schema(format = Password, min_length = 12, max_length = 1024)]
    pub password: Option<String>,
    /// Its role (default `user`).
    #[serde(default)]
    pub role: Option<UserRole>,
}

impl std::fmt::Debug for AdminCreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCreateUser")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Answer of `POST /api/v1/admin/users`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminCreatedUser {
    /// The account.
    pub user: AdminUser,
    /// The generated password, when none was given: shown only here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl std::fmt::Debug for AdminCreatedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCreatedUser")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Body of `PUT /api/v1/admin/users/{id}/role`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetRoleRequest {
    /// The new role.
    pub role: UserRole,
}

/// Body of `POST /api/v1/admin/invitations`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvitationRequest {
    /// Who it is for (free text, at most 200 characters).
    #[serde(default)]
    pub note: Option<String>,
    /// Hours until it expires: 1 to 720 (default: the server's
    /// `PYTH_ON_INVITATION_TTL_HOURS`).
    #[serde(default, deserialize_with = "crate::number::optional_whole")]
    pub expires_in_hours: Option<u64>,
}

/// An invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationInfo {
    /// Its id.
    pub id: Uuid,
    /// Its note.
    pub note: String,
    /// The admin who created it.
    pub created_by: Uuid,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// It cannot be used from then on.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was used; absent while unused.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
    /// The account it created (absent while unused, or once that account is deleted).
    pub used_by: Option<Uuid>,
}

/// Answer of `POST /api/v1/admin/invitations`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationCreated {
    /// The invitation.
    pub invitation: InvitationInfo,
    /// The code to hand to the invitee (`invitation` of `POST /api/register`): shown only
    /// here; the server keeps its hash.
    pub code: String,
}

impl std::fmt::Debug for InvitationCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitationCreated")
            .field("invitation", &self.invitation)
            .finish_non_exhaustive()
    }
}

/// Answer of `GET /api/v1/admin/invitations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationList {
    /// Newest first.
    pub invitations: Vec<InvitationInfo>,
}
