//! Authentication of `/api/v1/*`: an `x-api-key` or an `Authorization: Bearer` access JWT,
//! resolved to an enabled user (and, for a JWT, a live sign-in), followed by that user's rate
//! limit. The middleware leaves a [`Caller`] in the request extensions for handlers.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pyth_on_crypto::api_key::ApiKey;
use pyth_on_crypto::key_hash::KeyHash;
use pyth_on_store::{ApiKeyRecord, Role, User};

use super::client_ip::client_ip;
use super::rate_limit;
use crate::accounts::{self, AccountError};
use crate::caller::{AuthMethod, Caller};
use crate::error::ApiError;
use crate::state::AppState;

impl Caller {
    /// Key management and similar routes need a JWT (a leaked API key must not mint more keys).
    pub fn require_jwt(&self) -> Result<(), ApiError> {
        match self.method {
            AuthMethod::Jwt => Ok(()),
            AuthMethod::ApiKey(_) => Err(ApiError::Forbidden {
                code: "jwt_required",
                message: "this route needs an access token (Authorization: Bearer), not an API key"
                    .into(),
            }),
        }
    }

    /// Admin routes need an admin signed in with a JWT.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin && self.method == AuthMethod::Jwt {
            Ok(())
        } else {
            Err(AccountError::AdminRequired.into())
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .copied()
            .ok_or_else(ApiError::unauthorized)
    }
}

/// The bearer token of an `Authorization` header, if it has that form.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Resolves the caller or answers 401; then applies the per-user rate limit.
pub async fn require_auth(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let ip = client_ip(peer, request.headers(), &state.settings().trusted_proxies);
    let user = match authenticate(&state, request.headers(), ip).await {
        Ok(user) => user,
        Err(err) => return err.into_response(),
    };
    let key = format!("user:{}", user.user_id);
    let decision =
        match rate_limit::take(state.store(), &key, state.settings().rate_limit_per_minute).await {
            Ok(d) => d,
            Err(err) => return ApiError::from(err).into_response(),
        };
    if !decision.allowed {
        let mut response = rate_limit::refused(&decision).into_response();
        rate_limit::apply_headers(response.headers_mut(), &decision);
        return response;
    }
    // Every later event of the request (handler, launcher, runner reports) carries the user.
    tracing::Span::current().record("user.id", tracing::field::display(user.user_id));
    request.extensions_mut().insert(user);
    let mut response = next.run(request).await;
    rate_limit::apply_headers(response.headers_mut(), &decision);
    response
}

/// The caller of a request by its credentials (an `x-api-key`, else an access JWT); no rate
/// limit is taken. The account is read on every request, so a disabled or deleted account,
/// or an ended sign-in, is refused at once on every node.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<Caller, ApiError> {
    // A credential of a user who no longer exists is refused; a disabled one is told so.
    let (user, method, sign_in) = match headers.get("x-api-key") {
        Some(raw) => {
            let (key, owner) = api_key(state, raw).await?;
            let owner = accounts::usable(Some(owner))?;
            if key
                .last_used_at
                .is_none_or(|at| time::OffsetDateTime::now_utc() - at >= KEY_USE_PRECISION)
            {
                state.touch_api_key(key.id);
            }
            (owner, AuthMethod::ApiKey(key.id), None)
        }
        None => {
            let token = bearer_token(headers).ok_or_else(ApiError::unauthorized)?;
            let claims = state
                .jwt()
                .verify(token)
                .map_err(|_| ApiError::unauthorized())?;
            let user = accounts::me(state, claims.sub).await?;
            (user, AuthMethod::Jwt, claims.sid)
        }
    };
    let user_id = user.id;
    if let Some(sign_in) = sign_in {
        if !state.store().sign_in_live(user_id, sign_in).await? {
            return Err(ApiError::unauthorized());
        }
    }
    Ok(Caller {
        user_id,
        method,
        ip,
        role: user.role,
        secrets_default: user.secrets_default,
        sign_in,
    })
}

/// How stale a key's recorded last use may get: a key in steady use is written once per this
/// period, not on every request (a write transaction each).
const KEY_USE_PRECISION: time::Duration = time::Duration::minutes(1);

/// The live API key an `x-api-key` header names, checked against its hash, and its owner
/// (one query). Format and checksum are checked before any database lookup.
async fn api_key(state: &AppState, raw: &HeaderValue) -> Result<(ApiKeyRecord, User), ApiError> {
    let raw = raw.to_str().map_err(|_| ApiError::unauthorized())?;
    let key = ApiKey::parse(raw.trim()).map_err(|_| ApiError::unauthorized())?;
    let hash = key.hash();
    let (record, owner) = state
        .store()
        .api_key_with_owner(hash.as_bytes())
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    if !KeyHash::from_slice(&record.key_hash).is_some_and(|stored| stored.ct_eq(&hash)) {
        return Err(ApiError::unauthorized());
    }
    Ok((record, owner))
}

/// Per-client-IP limit on the public auth routes (register, login, refresh).
pub async fn auth_ip_rate_limit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let ip = client_ip(peer, request.headers(), &state.settings().trusted_proxies);
    let key = format!("ip:{ip}:auth");
    let decision = match rate_limit::take(
        state.store(),
        &key,
        state.settings().auth_rate_limit_per_minute,
    )
    .await
    {
        Ok(d) => d,
        Err(err) => return ApiError::from(err).into_response(),
    };
    if !decision.allowed {
        let mut response = rate_limit::refused(&decision).into_response();
        rate_limit::apply_headers(response.headers_mut(), &decision);
        return response;
    }
    let mut response = next.run(request).await;
    rate_limit::apply_headers(response.headers_mut(), &decision);
    response
}
