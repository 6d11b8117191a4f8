//! Accounts and their sign-ins: [`register`] (the account and its first API key, audited
//! together; what the registration mode allows), [`login`] (the same work whether or not the
//! account exists), [`verify`] an access token, [`refresh`] (a spent refresh token revokes its
//! whole family) and [`me`]. Every answer that grants access carries a new access token and
//! refresh token; the access token names its sign-in (`sid`), so ending the sign-in ends it
//! too. A disabled account is refused everywhere once its password is proven.

use std::net::IpAddr;

use pyth_on_crypto::{ApiKey, InvitationCode, RefreshToken};
use pyth_on_store::{
    Constraint, NewApiKey, NewRefreshToken, NewUser, RefreshOutcome, Role, SecretsDefault,
    StoreError, User,
};
use pyth_on_types::{AuthResponse, UserInfo, UserRole};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{self, Action, Outcome};
use crate::domain::{Email, Password};
use crate::registration::RegistrationMode;
use crate::state::AppState;

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// An account with this email exists.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// No such account, or the wrong password (the same answer for both).
    #[error("email or password is wrong")]
    InvalidCredentials,
    /// The token is missing, invalid, expired, spent, or its user is gone.
    #[error("unauthorized")]
    Unauthorized,
    /// The registration mode is `closed`.
    #[error("registration is closed on this server: ask an administrator for an account")]
    RegistrationClosed,
    /// The registration mode is `invite` and no invitation came with the request.
    #[error("registration on this server needs an invitation code from an administrator")]
    InvitationRequired,
    /// The invitation is unknown, used or expired.
    #[error("this invitation code is unknown, already used or expired")]
    InvitationInvalid,
    /// An admin disabled the account.
    #[error("this account is disabled: ask an administrator")]
    AccountDisabled,
    /// The caller is not an admin (or used an API key for an admin route).
    #[error("this route is for administrators signed in with an access token")]
    AdminRequired,
    /// The password given to confirm a change is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// The change would leave the server without an enabled admin.
    #[error("this is the last enabled administrator: make another one first")]
    LastAdmin,
    /// No such account.
    #[error("user not found")]
    UserNotFound,
    /// No such invitation.
    #[error("invitation not found")]
    InvitationNotFound,
    /// No such live sign-in of the caller.
    #[error("sign-in not found")]
    SignInNotFound,
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing or signing failed.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Where a request granting access came from (kept with its refresh token, for the
/// sign-ins list).
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The client address.
    pub ip: IpAddr,
    /// Its `User-Agent`, cut to 200 characters.
    pub user_agent: Option<String>,
}

/// The public view of a stored user.
pub fn user_info(user: &User) -> UserInfo {
    UserInfo {
        id: user.id,
        email: user.email.clone(),
        created_at: user.created_at,
        role: role_type(user.role),
        secrets_default: match user.secrets_default {
            SecretsDefault::All => pyth_on_types::SecretsDefault::All,
            SecretsDefault::None => pyth_on_types::SecretsDefault::None,
        },
    }
}

/// The wire form of a role.
pub fn role_type(role: Role) -> UserRole {
    match role {
        Role::User => UserRole::User,
        Role::Admin => UserRole::Admin,
    }
}

/// A new account's row (its password hashed off the async threads).
pub async fn new_user(
    state: &AppState,
    email: &Email,
    password: Password,
    role: Role,
) -> Result<NewUser, AccountError> {
    let hash = state
        .password_work(move || pyth_on_crypto::hash_password(&password.into_inner()))
        .await?
        .map_err(|e| AccountError::Internal(e.into()))?;
    Ok(NewUser {
        id: Uuid::now_v7(),
        email: email.as_str().to_string(),
        password_hash: hash,
        created_at: OffsetDateTime::now_utc(),
        role,
    })
}

/// The row a new user reads back as.
pub fn stored(user: NewUser) -> User {
    User {
        id: user.id,
        email: user.email,
        password_hash: user.password_hash,
        created_at: pyth_on_store::truncate_to_millis(user.created_at),
        role: user.role,
        disabled_at: None,
        secrets_default: SecretsDefault::All,
    }
}

/// Creates an account with its first API key (shown only in this answer) and signs it in, as
/// the registration mode allows: `open` ignores `invitation`, `invite` spends it, `closed`
/// refuses.
pub async fn register(
    state: &AppState,
    email: Email,
    password: Password,
    invitation: Option<&str>,
    client: &ClientInfo,
) -> Result<AuthResponse, AccountError> {
    let mode = state.settings().registration.mode(state.settings().listen);
    let code = match mode {
        RegistrationMode::Closed => return Err(AccountError::RegistrationClosed),
        RegistrationMode::Open => None,
        RegistrationMode::Invite => {
            let presented = invitation.ok_or(AccountError::InvitationRequired)?;
            Some(InvitationCode::parse(presented).ok_or(AccountError::InvitationInvalid)?)
        }
    };
    let user = new_user(state, &email, password, Role::User).await?;
    let key = ApiKey::generate();
    let new_key = NewApiKey {
        id: Uuid::now_v7(),
        user_id: user.id,
        name: "default".into(),
        prefix: key.display_prefix(),
        key_hash: key.hash().to_vec(),
        created_at: user.created_at,
    };
    let details = json!({ "apiKeyId": new_key.id, "invited": code.is_some() });
    let ip = client.ip;
    let event = audit::public(user.id, ip, Action::AuthRegister, Outcome::Success, details);
    let store = state.store();
    let created = match &code {
        None => store.create_user_with_key(&user, &new_key, &event).await,
        Some(code) => {
            let hash = code.hash();
            let now = OffsetDateTime::now_utc();
            let register =
                store.register_with_invitation(hash.as_bytes(), &user, &new_key, now, &event);
            register.await
        }
    };
    match created {
        Ok(()) => {}
        Err(err) if err.is_conflict_on(Constraint::InvitationUnusable) => {
            return Err(AccountError::InvitationInvalid)
        }
        Err(StoreError::Conflict { .. }) => return Err(AccountError::EmailTaken),
        Err(err) => return Err(err.into()),
    }
    issue_tokens(state, &stored(user), Some(key.expose().to_string()), client).await
}

/// Signs in with email and password. A malformed email or an unknown account costs the same
/// password work as a wrong password and gets the same answer; a wrong password is audited.
pub async fn login(
    state: &AppState,
    email: &str,
    password: String,
    client: &ClientInfo,
) -> Result<AuthResponse, AccountError> {
    let ip = client.ip;
    let user = match Email::parse(email) {
        Ok(email) => state.store().user_by_email(email.as_str()).await?,
        Err(_) => None,
    };
    let Some(user) = user else {
        state
            .password_work(move || pyth_on_crypto::dummy_verify(&password))
            .await?;
        return Err(AccountError::InvalidCredentials);
    };
    let phc = user.password_hash.clone();
    let ok = state
        .password_work(move || pyth_on_crypto::verify_password(&password, &phc))
        .await?;
    if !ok {
        let event = audit::public(
            user.id,
            ip,
            Action::AuthLoginFailed,
            Outcome::Denied,
            json!({}),
        );
        state.store().append_audit(&event).await?;
        return Err(AccountError::InvalidCredentials);
    }
    if user.disabled_at.is_some() {
        let details = json!({ "reason": "account_disabled" });
        let event = audit::public(user.id, ip, Action::AuthLogin, Outcome::Denied, details);
        state.store().append_audit(&event).await?;
        return Err(AccountError::AccountDisabled);
    }
    let response = issue_tokens(state, &user, None, client).await?;
    let event = audit::public(user.id, ip, Action::AuthLogin, Outcome::Success, json!({}));
    state.store().append_audit(&event).await?;
    Ok(response)
}

/// The user an access token belongs to, and when the token expires.
pub async fn verify(state: &AppState, token: &str) -> Result<(User, OffsetDateTime), AccountError> {
    let claims = state
        .jwt()
        .verify(token)
        .map_err(|_| AccountError::Unauthorized)?;
    let user = me(state, claims.sub).await?;
    Ok((user, claims.exp))
}

/// The account `id` (gone: unauthorized; disabled: refused).
pub async fn me(state: &AppState, id: Uuid) -> Result<User, AccountError> {
    usable(state.store().user_by_id(id).await?)
}

/// A user read with a credential, if they may use it: one who no longer exists is
/// unauthorized, a disabled one is told so.
pub fn usable(user: Option<User>) -> Result<User, AccountError> {
    let user = user.ok_or(AccountError::Unauthorized)?;
    if user.disabled_at.is_some() {
        return Err(AccountError::AccountDisabled);
    }
    Ok(user)
}

/// Spends a refresh token for a new access token and its successor. A token spent before
/// revokes its whole family (audited as `auth.refresh_reuse`).
pub async fn refresh(
    state: &AppState,
    presented: &str,
    client: &ClientInfo,
) -> Result<AuthResponse, AccountError> {
    let ip = client.ip;
    let presented =
        RefreshToken::parse(presented.trim()).map_err(|_| AccountError::Unauthorized)?;
    let now = OffsetDateTime::now_utc();
    let successor = RefreshToken::generate();
    let row = NewRefreshToken {
        id: Uuid::now_v7(),
        user_id: Uuid::nil(),
        family_id: Uuid::nil(),
        token_hash: successor.hash().to_vec(),
        created_at: now,
        expires_at: now + refresh_ttl(state),
        ip: Some(ip.to_string()),
        user_agent: client.user_agent.clone(),
    };
    let nil = Uuid::nil();
    let ok = audit::public(nil, ip, Action::AuthRefresh, Outcome::Success, json!({}));
    let reuse_details = json!({ "familyRevoked": true });
    let reuse = audit::public(
        nil,
        ip,
        Action::AuthRefreshReuse,
        Outcome::Denied,
        reuse_details,
    );
    let hash = presented.hash();
    match state
        .store()
        .rotate_refresh_token(hash.as_bytes(), &row, now, &ok, &reuse)
        .await?
    {
        RefreshOutcome::Rotated { user_id, family_id } => {
            let user = me(state, user_id).await?;
            access_response(state, &user, (family_id, successor), None, now)
        }
        RefreshOutcome::Reused { user_id, .. } => {
            tracing::warn!(user.id = %user_id, "spent refresh token presented again; family revoked");
            Err(AccountError::Unauthorized)
        }
        RefreshOutcome::Invalid => Err(AccountError::Unauthorized),
    }
}

/// Ends the sign-in of `presented` (a refresh token): its whole family is revoked, and the
/// access tokens it issued (they name it) are refused from their next request. An unknown,
/// spent or expired token changes nothing: signing out twice is not an error.
pub async fn logout(state: &AppState, presented: &str, ip: IpAddr) -> Result<(), AccountError> {
    let Ok(presented) = RefreshToken::parse(presented.trim()) else {
        return Ok(());
    };
    let nil = Uuid::nil();
    let event = audit::public(nil, ip, Action::AuthLogout, Outcome::Success, json!({}));
    let hash = presented.hash();
    let now = OffsetDateTime::now_utc();
    state.store().sign_out(hash.as_bytes(), now, &event).await?;
    Ok(())
}

/// Issues an access token and a refresh token starting a family (a sign-in).
async fn issue_tokens(
    state: &AppState,
    user: &User,
    api_key: Option<String>,
    client: &ClientInfo,
) -> Result<AuthResponse, AccountError> {
    let now = OffsetDateTime::now_utc();
    let refresh = RefreshToken::generate();
    let family_id = Uuid::now_v7();
    state
        .store()
        .create_refresh_token(&NewRefreshToken {
            id: Uuid::now_v7(),
            user_id: user.id,
            family_id,
            token_hash: refresh.hash().to_vec(),
            created_at: now,
            expires_at: now + refresh_ttl(state),
            ip: Some(client.ip.to_string()),
            user_agent: client.user_agent.clone(),
        })
        .await?;
    access_response(state, user, (family_id, refresh), api_key, now)
}

fn refresh_ttl(state: &AppState) -> Duration {
    Duration::days(i64::try_from(state.settings().refresh_token_ttl_days).unwrap_or(30))
}

fn access_response(
    state: &AppState,
    user: &User,
    (sign_in, refresh): (Uuid, RefreshToken),
    api_key: Option<String>,
    now: OffsetDateTime,
) -> Result<AuthResponse, AccountError> {
    let ttl = state.settings().access_token_ttl_secs;
    let lifetime = Duration::seconds(i64::try_from(ttl).unwrap_or(900));
    let issued = state
        .jwt()
        .issue_for_sign_in(user.id, Some(sign_in), now, lifetime)
        .map_err(|e| AccountError::Internal(e.into()))?;
    Ok(AuthResponse {
        token: issued.token,
        refresh_token: refresh.expose().to_string(),
        expires_in: ttl,
        token_type: "Bearer".into(),
        api_key,
        user: user_info(user),
    })
}
