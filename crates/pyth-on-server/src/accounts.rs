//! Accounts and their sessions: [`register`] (the account and its first API key, audited
//! together), [`login`] (the same work whether or not the account exists), [`verify`] an
//! access token, [`refresh`] (a spent refresh token revokes its whole family) and [`me`].
//! Every answer that grants access carries a new access token and refresh token.

use std::net::IpAddr;

use pyth_on_crypto::{ApiKey, RefreshToken};
use pyth_on_store::{NewApiKey, NewRefreshToken, NewUser, RefreshOutcome, StoreError, User};
use pyth_on_types::{AuthResponse, UserInfo};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{self, Action, Outcome};
use crate::domain::{Email, Password};
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
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing or signing failed.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The public view of a stored user.
pub fn user_info(user: &User) -> UserInfo {
    UserInfo {
        id: user.id,
        email: user.email.clone(),
        created_at: user.created_at,
    }
}

/// Creates an account with its first API key (shown only in this answer) and signs it in.
pub async fn register(
    state: &AppState,
    email: Email,
    password: Password,
    ip: IpAddr,
) -> Result<AuthResponse, AccountError> {
    let hash = state
        .password_work(move || pyth_on_crypto::hash_password(&password.into_inner()))
        .await?
        .map_err(|e| AccountError::Internal(e.into()))?;
    let now = OffsetDateTime::now_utc();
    let user = NewUser {
        id: Uuid::now_v7(),
        email: email.as_str().to_string(),
        password_hash: hash,
        created_at: now,
    };
    let key = ApiKey::generate();
    let new_key = NewApiKey {
        id: Uuid::now_v7(),
        user_id: user.id,
        name: "default".into(),
        prefix: key.display_prefix(),
        key_hash: key.hash().to_vec(),
        created_at: now,
    };
    let details = json!({ "apiKeyId": new_key.id });
    let event = audit::public(user.id, ip, Action::AuthRegister, Outcome::Success, details);
    match state
        .store()
        .create_user_with_key(&user, &new_key, &event)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => return Err(AccountError::EmailTaken),
        Err(err) => return Err(err.into()),
    }
    let stored = User {
        id: user.id,
        email: user.email,
        password_hash: user.password_hash,
        created_at: pyth_on_store::truncate_to_millis(now),
    };
    issue_tokens(state, &stored, Some(key.expose().to_string())).await
}

/// Signs in with email and password. A malformed email or an unknown account costs the same
/// password work as a wrong password and gets the same answer; a wrong password is audited.
pub async fn login(
    state: &AppState,
    email: &str,
    password: String,
    ip: IpAddr,
) -> Result<AuthResponse, AccountError> {
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
    let response = issue_tokens(state, &user, None).await?;
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

/// The account `id` (gone: unauthorized).
pub async fn me(state: &AppState, id: Uuid) -> Result<User, AccountError> {
    state
        .store()
        .user_by_id(id)
        .await?
        .ok_or(AccountError::Unauthorized)
}

/// Spends a refresh token for a new access token and its successor. A token spent before
/// revokes its whole family (audited as `auth.refresh_reuse`).
pub async fn refresh(
    state: &AppState,
    presented: &str,
    ip: IpAddr,
) -> Result<AuthResponse, AccountError> {
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
        RefreshOutcome::Rotated { user_id, .. } => {
            let user = me(state, user_id).await?;
            access_response(state, &user, successor, None, now)
        }
        RefreshOutcome::Reused { user_id, .. } => {
            tracing::warn!(user.id = %user_id, "spent refresh token presented again; family revoked");
            Err(AccountError::Unauthorized)
        }
        RefreshOutcome::Invalid => Err(AccountError::Unauthorized),
    }
}

/// Ends the sign-in of `presented` (a refresh token): its whole family is revoked (every
/// access token already issued stays valid until it expires, at most
/// `--access-token-ttl-secs`). An unknown, spent or expired token changes nothing: signing
/// out twice is not an error.
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

/// Issues an access token and a refresh token starting a family.
async fn issue_tokens(
    state: &AppState,
    user: &User,
    api_key: Option<String>,
) -> Result<AuthResponse, AccountError> {
    let now = OffsetDateTime::now_utc();
    let refresh = RefreshToken::generate();
    state
        .store()
        .create_refresh_token(&NewRefreshToken {
            id: Uuid::now_v7(),
            user_id: user.id,
            family_id: Uuid::now_v7(),
            token_hash: refresh.hash().to_vec(),
            created_at: now,
            expires_at: now + refresh_ttl(state),
        })
        .await?;
    access_response(state, user, refresh, api_key, now)
}

fn refresh_ttl(state: &AppState) -> Duration {
    Duration::days(i64::try_from(state.settings().refresh_token_ttl_days).unwrap_or(30))
}

fn access_response(
    state: &AppState,
    user: &User,
    refresh: RefreshToken,
    api_key: Option<String>,
    now: OffsetDateTime,
) -> Result<AuthResponse, AccountError> {
    let ttl = state.settings().access_token_ttl_secs;
    let lifetime = Duration::seconds(i64::try_from(ttl).unwrap_or(900));
    let issued = state
        .jwt()
        .issue(user.id, now, lifetime)
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
