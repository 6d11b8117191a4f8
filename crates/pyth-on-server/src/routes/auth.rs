//! Public auth routes: register, login, verify, refresh, logout (the refresh token in the JSON
//! answer, or in an HttpOnly cookie for browsers: [`refresh_cookie`]); and `GET /api/v1/me`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use pyth_on_types::{
    AuthRequest, AuthResponse, LogoutRequest, RefreshRequest, RegisterRequest, UserInfo,
    VerifyRequest, VerifyResponse,
};

use crate::accounts::{self, user_info};
use crate::domain::{Email, Password};
use crate::error::ApiError;
use crate::http::auth::bearer_token;
use crate::http::client_ip::{client_info, client_ip};
use crate::http::json::{optional_json, AppJson};
use crate::http::refresh_cookie;
use crate::state::AppState;

/// Create an account; answers its first API key (shown only here) and tokens.
/// What the server's registration mode allows (`GET /api/info` reports it): `open` ignores
/// `invitation`, `invite` requires one, `closed` refuses every request.
#[utoipa::path(post, path = "/api/register", tag = "Auth", request_body = RegisterRequest,
    responses((status = 201, body = AuthResponse),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed: details names the email or the password"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "registration_closed, invitation_required, or invitation_invalid (unknown, used or expired)"),
        (status = 409, body = pyth_on_types::ErrorBody, description = "email_taken")))]
pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    AppJson(body): AppJson<RegisterRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let email = Email::parse(&body.email)?;
    let password = Password::parse(body.password)?;
    let client = client_info(peer, &headers, &state.settings().trusted_proxies);
    let invitation = body.invitation.as_deref();
    let response = accounts::register(&state, email, password, invitation, &client).await?;
    let (cookies, response) = maybe_cookie(&state, &headers, response);
    Ok((StatusCode::CREATED, cookies, AppJson(response)))
}

/// With `X-Pyth-On-Cookie: refresh`, the refresh token goes into the refresh cookie and out
/// of the JSON answer (see [`refresh_cookie`]).
fn maybe_cookie(
    state: &AppState,
    headers: &HeaderMap,
    mut response: AuthResponse,
) -> (HeaderMap, AuthResponse) {
    let mut cookies = HeaderMap::new();
    if refresh_cookie::wants_cookie(headers) {
        let ttl = state.settings().refresh_token_ttl_days * 86_400;
        refresh_cookie::set(&mut cookies, &response.refresh_token, ttl);
        response.refresh_token.clear();
    }
    (cookies, response)
}

/// Exchange email and password for tokens.
#[utoipa::path(post, path = "/api/login", tag = "Auth", request_body = AuthRequest,
    responses((status = 200, body = AuthResponse),
        (status = 401, body = pyth_on_types::ErrorBody, description = "invalid_credentials: no such account, or the wrong password"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "account_disabled: the password is right but an administrator disabled the account")))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    AppJson(body): AppJson<AuthRequest>,
) -> Result<(HeaderMap, AppJson<AuthResponse>), ApiError> {
    let client = client_info(peer, &headers, &state.settings().trusted_proxies);
    let response = accounts::login(&state, &body.email, body.password, &client).await?;
    let (cookies, response) = maybe_cookie(&state, &headers, response);
    Ok((cookies, AppJson(response)))
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
    let (user, expires_at) = accounts::verify(&state, token).await?;
    Ok(AppJson(VerifyResponse {
        valid: true,
        user: user_info(&user),
        expires_at,
    }))
}

/// Spend a refresh token for a new access token and a new refresh token. With
/// `X-Pyth-On-Cookie: refresh` and an empty `refreshToken`, the refresh cookie's token is
/// spent and its successor set in the cookie.
#[utoipa::path(post, path = "/api/refresh", tag = "Auth", request_body = RefreshRequest,
    params(("x-pyth-on-cookie" = Option<String>, Header, description = "`refresh`: read the refresh token from, and put its successor into, the HttpOnly refresh cookie")),
    responses((status = 200, body = AuthResponse),
        (status = 401, body = pyth_on_types::ErrorBody, description = "unauthorized: unknown, expired or already spent (then its whole family is revoked)"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "account_disabled")))]
pub async fn refresh(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    AppJson(body): AppJson<RefreshRequest>,
) -> Result<(HeaderMap, AppJson<AuthResponse>), ApiError> {
    let client = client_info(peer, &headers, &state.settings().trusted_proxies);
    let presented = match body.refresh_token.trim() {
        "" => refresh_cookie::from_cookie(&headers).ok_or_else(ApiError::unauthorized)?,
        token => token.to_string(),
    };
    let response = accounts::refresh(&state, &presented, &client).await?;
    let (cookies, response) = maybe_cookie(&state, &headers, response);
    Ok((cookies, AppJson(response)))
}

/// Sign out: the refresh token's whole family is revoked (the body's `refreshToken`, or the
/// refresh cookie's with `X-Pyth-On-Cookie: refresh`, which is then deleted), and the access
/// tokens it issued stop working. Unknown or spent tokens change nothing.
#[utoipa::path(post, path = "/api/logout", tag = "Auth",
    request_body(content = Option<LogoutRequest>, description = "optional: without a token the refresh cookie's is used (with `X-Pyth-On-Cookie: refresh`)"),
    params(("x-pyth-on-cookie" = Option<String>, Header, description = "`refresh`: sign out the refresh cookie's sign-in and delete the cookie")),
    responses((status = 204, description = "Signed out (or there was nothing to sign out)"),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid_json: a body that is not a LogoutRequest")))]
pub async fn logout(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<(StatusCode, HeaderMap), ApiError> {
    let body: Option<Option<LogoutRequest>> = optional_json(request, &state).await?;
    let from_body = body.flatten().and_then(|b| b.refresh_token);
    let presented = from_body.or_else(|| refresh_cookie::from_cookie(&headers));
    let ip = client_ip(peer, &headers, &state.settings().trusted_proxies);
    if let Some(token) = presented {
        accounts::logout(&state, &token, ip).await?;
    }
    let mut cookies = HeaderMap::new();
    if refresh_cookie::wants_cookie(&headers) {
        refresh_cookie::clear(&mut cookies);
    }
    Ok((StatusCode::NO_CONTENT, cookies))
}

/// The caller's own account (works with an API key or a token).
#[utoipa::path(get, path = "/api/v1/me", tag = "Auth", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UserInfo)))]
pub async fn me(
    State(state): State<AppState>,
    user: crate::caller::Caller,
) -> Result<AppJson<UserInfo>, ApiError> {
    let found = accounts::me(&state, user.user_id).await?;
    Ok(AppJson(user_info(&found)))
}
