//! Public auth routes: register, login, verify, refresh.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use pyth_on_crypto::{ApiKey, RefreshToken};
use pyth_on_store::{NewApiKey, NewRefreshToken, NewUser, RefreshOutcome, StoreError, User};
use pyth_on_types::{
    AuthRequest, AuthResponse, RefreshRequest, UserInfo, VerifyRequest, VerifyResponse,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{self, Action, Outcome};
use crate::domain::{Email, Password};
use crate::error::ApiError;
use crate::http::auth::bearer_token;
use crate::http::client_ip::client_ip;
use crate::http::json::{optional_json, AppJson};
use crate::state::AppState;

/// The public view of a stored user.
pub fn user_info(user: &User) -> UserInfo {
    UserInfo {
        id: user.id,
        email: user.email.clone(),
        created_at: user.created_at,
    }
}

/// Issues an access token and a refresh token starting (or continuing) a family.
async fn issue_tokens(
    state: &AppState,
    user: &User,
    api_key: Option<String>,
) -> Result<AuthResponse, ApiError> {
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
) -> Result<AuthResponse, ApiError> {
    let ttl = state.settings().access_token_ttl_secs;
    let issued = state
        .jwt()
        .issue(
            user.id,
            now,
            Duration::seconds(i64::try_from(ttl).unwrap_or(900)),
        )
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(AuthResponse {
        token: issued.token,
        refresh_token: refresh.expose().to_string(),
        expires_in: ttl,
        token_type: "Bearer".into(),
        api_key,
        user: user_info(user),
    })
}

/// Create an account; answers its first API key (shown only here) and tokens.
#[utoipa::path(post, path = "/api/register", tag = "Auth", request_body = AuthRequest,
    responses((status = 201, body = AuthResponse),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed: details names the email or the password"),
        (status = 409, body = pyth_on_types::ErrorBody, description = "email_taken")))]
pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    AppJson(body): AppJson<AuthRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let email = Email::parse(&body.email)?;
    let password = Password::parse(body.password)?;
    let ip = client_ip(peer, &headers, &state.settings().trusted_proxies);
    let hash = state
        .password_work(move || pyth_on_crypto::hash_password(&password.into_inner()))
        .await?
        .map_err(|e| ApiError::Internal(e.into()))?;
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
    let event = audit::public(
        user.id,
        ip,
        Action::AuthRegister,
        Outcome::Success,
        json!({ "apiKeyId": new_key.id }),
    );
    match state
        .store()
        .create_user_with_key(&user, &new_key, &event)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::Conflict {
                code: "email_taken",
                message: "an account with this email already exists".into(),
            })
        }
        Err(err) => return Err(err.into()),
    }
    let stored = User {
        id: user.id,
        email: user.email,
        password_hash: user.password_hash,
        created_at: pyth_on_store::truncate_to_millis(now),
    };
    let response = issue_tokens(&state, &stored, Some(key.expose().to_string())).await?;
    Ok((StatusCode::CREATED, AppJson(response)))
}

/// Exchange email and password for tokens.
#[utoipa::path(post, path = "/api/login", tag = "Auth", request_body = AuthRequest,
    responses((status = 200, body = AuthResponse),
        (status = 401, body = pyth_on_types::ErrorBody, description = "invalid_credentials: no such account, or the wrong password")))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    AppJson(body): AppJson<AuthRequest>,
) -> Result<AppJson<AuthResponse>, ApiError> {
    let invalid = || ApiError::Unauthorized {
        code: "invalid_credentials",
        message: "email or password is wrong".into(),
    };
    let ip = client_ip(peer, &headers, &state.settings().trusted_proxies);
    // A malformed email cannot match an account: answer like an unknown one, after the same work.
    let user = match Email::parse(&body.email) {
        Ok(email) => state.store().user_by_email(email.as_str()).await?,
        Err(_) => None,
    };
    let password = body.password;
    let Some(user) = user else {
        state
            .password_work(move || pyth_on_crypto::dummy_verify(&password))
            .await?;
        return Err(invalid());
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
        return Err(invalid());
    }
    let response = issue_tokens(&state, &user, None).await?;
    let event = audit::public(user.id, ip, Action::AuthLogin, Outcome::Success, json!({}));
    state.store().append_audit(&event).await?;
    Ok(AppJson(response))
}

/// Check an access token: the body's `token` when the body has one, else the
/// `Authorization: Bearer` header's. The body is read like every other route's (a malformed
/// one is a 400, whatever the header says).
#[utoipa::path(post, path = "/api/verify", tag = "Auth", request_body(content = Option<VerifyRequest>, description = "optional: without a body (or without `token`) the `Authorization: Bearer` header's token is checked"),
    security((), ("bearer" = [])),
    responses((status = 200, body = VerifyResponse),
        (status = 401, body = pyth_on_types::ErrorBody, description = "unauthorized: no token, or the token is invalid, expired or its user is gone")))]
pub async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<AppJson<VerifyResponse>, ApiError> {
    // No body, a `null` body and `{}` all leave the choice to the header.
    let body: Option<Option<VerifyRequest>> = optional_json(request, &state).await?;
    let from_body = body.flatten().and_then(|b| b.token);
    let token = match from_body.as_deref() {
        Some(token) => token,
        None => bearer_token(&headers).ok_or_else(ApiError::unauthorized)?,
    };
    let claims = state
        .jwt()
        .verify(token)
        .map_err(|_| ApiError::unauthorized())?;
    let user = state
        .store()
        .user_by_id(claims.sub)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(AppJson(VerifyResponse {
        valid: true,
        user: user_info(&user),
        expires_at: claims.exp,
    }))
}

/// Spend a refresh token for a new access token and a new refresh token.
#[utoipa::path(post, path = "/api/refresh", tag = "Auth", request_body = RefreshRequest,
    responses((status = 200, body = AuthResponse),
        (status = 401, body = pyth_on_types::ErrorBody, description = "unauthorized: unknown, expired or already spent (then its whole family is revoked)")))]
pub async fn refresh(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    AppJson(body): AppJson<RefreshRequest>,
) -> Result<AppJson<AuthResponse>, ApiError> {
    let presented =
        RefreshToken::parse(body.refresh_token.trim()).map_err(|_| ApiError::unauthorized())?;
    let ip = client_ip(peer, &headers, &state.settings().trusted_proxies);
    let now = OffsetDateTime::now_utc();
    let successor = RefreshToken::generate();
    let row = NewRefreshToken {
        id: Uuid::now_v7(),
        user_id: Uuid::nil(),
        family_id: Uuid::nil(),
        token_hash: successor.hash().to_vec(),
        created_at: now,
        expires_at: now + refresh_ttl(&state),
    };
    let ok = audit::public(
        Uuid::nil(),
        ip,
        Action::AuthRefresh,
        Outcome::Success,
        json!({}),
    );
    let reuse = audit::public(
        Uuid::nil(),
        ip,
        Action::AuthRefreshReuse,
        Outcome::Denied,
        json!({ "familyRevoked": true }),
    );
    match state
        .store()
        .rotate_refresh_token(presented.hash().as_bytes(), &row, now, &ok, &reuse)
        .await?
    {
        RefreshOutcome::Rotated { user_id, .. } => {
            let user = state
                .store()
                .user_by_id(user_id)
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            Ok(AppJson(access_response(
                &state, &user, successor, None, now,
            )?))
        }
        RefreshOutcome::Reused { user_id, .. } => {
            tracing::warn!(user.id = %user_id, "spent refresh token presented again; family revoked");
            Err(ApiError::unauthorized())
        }
        RefreshOutcome::Invalid => Err(ApiError::unauthorized()),
    }
}

/// The caller's own account (works with an API key or a token).
#[utoipa::path(get, path = "/api/v1/me", tag = "Auth", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UserInfo)))]
pub async fn me(
    State(state): State<AppState>,
    user: crate::caller::Caller,
) -> Result<AppJson<UserInfo>, ApiError> {
    let found = state
        .store()
        .user_by_id(user.user_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(AppJson(user_info(&found)))
}
