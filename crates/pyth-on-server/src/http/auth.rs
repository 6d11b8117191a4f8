//! Authentication of `/api/v1/*`: an `x-api-key` or an `Authorization: Bearer` access JWT,
//! resolved to an enabled user (and, for a JWT, a live sign-in), followed by that user's rate
//! limit. The middleware leaves a [`Caller`] in the request extensions for handlers.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pyth_on_crypto::api_key::ApiKey;
use pyth_on_crypto::jwt::Claims;
use pyth_on_crypto::key_hash::KeyHash;
use pyth_on_store::{ApiKeyRecord, RateDecision, Role, User};
use tracing::Instrument;
use uuid::Uuid;

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
    let (user, decision) = match authenticate_and_take(&state, request.headers(), ip).await {
        Ok(both) => both,
        Err(err) => return err.into_response(),
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

/// The caller and a cell of their rate limit. When this node knows whose an API key is
/// ([`Credential::claimed_user`]), the cell is taken side by side with the lookup: one round
/// trip less before every request ([`take_beside_lookup`]).
async fn authenticate_and_take(
    state: &AppState,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<(Caller, RateDecision), ApiError> {
    let credential = Credential::of(state, headers)?;
    let Some(claimed) = credential.claimed_user(state) else {
        let user = resolve(state, &credential, ip).await?;
        let decision = take_cell(state, user.user_id).await?;
        return Ok((user, decision));
    };
    // In a task of its own, so that a client that goes away cannot stop it between the cell
    // taken on the guess and its giving back.
    let owned = state.clone();
    let work = async move { take_beside_lookup(&owned, &credential, ip, claimed).await };
    let work = crate::context::carry(work).instrument(tracing::Span::current());
    tokio::spawn(work).await.map_err(|failed| {
        ApiError::Internal(anyhow::Error::new(failed).context("authenticating the request"))
    })?
}

/// Takes a cell of `claimed`'s bucket while the store looks the credential up. A cell taken
/// for anyone but the caller the lookup found (a revoked key, a disabled account) is given
/// back, and the caller's taken (if any).
async fn take_beside_lookup(
    state: &AppState,
    credential: &Credential,
    ip: IpAddr,
    claimed: Uuid,
) -> Result<(Caller, RateDecision), ApiError> {
    let (user, decision) = tokio::join!(resolve(state, credential, ip), take_cell(state, claimed));
    match user {
        Ok(user) if user.user_id == claimed => Ok((user, decision?)),
        other => {
            if decision.is_ok_and(|d| d.allowed) {
                give_back_cell(state, claimed).await;
            }
            let user = other?;
            let decision = take_cell(state, user.user_id).await?;
            Ok((user, decision))
        }
    }
}

/// The rate-limit bucket of `user` (shared by all their keys and sign-ins, on every node).
fn user_bucket(user: Uuid) -> String {
    format!("user:{user}")
}

async fn take_cell(state: &AppState, user: Uuid) -> Result<RateDecision, ApiError> {
    let per_minute = state.settings().rate_limit_per_minute;
    Ok(rate_limit::take(state.store(), &user_bucket(user), per_minute).await?)
}

/// Gives back a cell taken for `user` on a guess the lookup contradicted. Should the store
/// fail here, they have lost one request of their minute: logged, not the request's error.
async fn give_back_cell(state: &AppState, user: Uuid) {
    let per_minute = state.settings().rate_limit_per_minute;
    if let Err(err) = rate_limit::give_back(state.store(), &user_bucket(user), per_minute).await {
        tracing::warn!(error = %err, "giving back a rate-limit cell taken on a guess failed");
    }
}

/// What a request presents, checked as far as it can be without the store: an API key's
/// format and checksum (kept as its hash), an access token's signature and claims.
enum Credential {
    ApiKey(KeyHash),
    Jwt(Claims),
}

impl Credential {
    /// The request's `x-api-key`, else its `Authorization: Bearer` access token.
    fn of(state: &AppState, headers: &HeaderMap) -> Result<Self, ApiError> {
        if let Some(raw) = headers.get("x-api-key") {
            let raw = raw.to_str().map_err(|_| ApiError::unauthorized())?;
            let key = ApiKey::parse(raw.trim()).map_err(|_| ApiError::unauthorized())?;
            return Ok(Self::ApiKey(key.hash()));
        }
        let token = bearer_token(headers).ok_or_else(ApiError::unauthorized)?;
        let claims = state
            .jwt()
            .verify(token)
            .map_err(|_| ApiError::unauthorized())?;
        Ok(Self::Jwt(claims))
    }

    /// Whose the credential is before the store says: for an API key, the owner this node
    /// last found usable with it, if any. None for an access token: a signed-out token stays
    /// valid until it expires, and taking its user's cells on every try would let whoever
    /// holds one keep that user's bucket busy.
    fn claimed_user(&self, state: &AppState) -> Option<Uuid> {
        match self {
            Self::ApiKey(hash) => state.key_owners().guess(hash),
            Self::Jwt(_) => None,
        }
    }
}

/// The caller of a request by its credentials (an `x-api-key`, else an access JWT); no rate
/// limit is taken. The account is read on every request, so a disabled or deleted account,
/// or an ended sign-in, is refused at once on every node.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<Caller, ApiError> {
    let credential = Credential::of(state, headers)?;
    resolve(state, &credential, ip).await
}

/// The caller `credential` belongs to, read from the store.
async fn resolve(
    state: &AppState,
    credential: &Credential,
    ip: IpAddr,
) -> Result<Caller, ApiError> {
    // A credential of a user who no longer exists is refused; a disabled one is told so.
    let (user, method, sign_in) = match credential {
        Credential::ApiKey(hash) => {
            let (key, owner) = usable_key(state, hash).await?;
            if key
                .last_used_at
                .is_none_or(|at| time::OffsetDateTime::now_utc() - at >= KEY_USE_PRECISION)
            {
                state.touch_api_key(key.id);
            }
            (owner, AuthMethod::ApiKey(key.id), None)
        }
        Credential::Jwt(claims) => (signed_in(state, claims).await?, AuthMethod::Jwt, claims.sid),
    };
    Ok(Caller {
        user_id: user.id,
        method,
        ip,
        role: user.role,
        secrets_default: user.secrets_default,
        sign_in,
    })
}

/// The user of a verified access token, if usable and (for a token of a sign-in) still signed
/// in: the two reads side by side.
async fn signed_in(state: &AppState, claims: &Claims) -> Result<User, ApiError> {
    let Some(sign_in) = claims.sid else {
        return Ok(accounts::me(state, claims.sub).await?);
    };
    let (user, live) = tokio::join!(
        accounts::me(state, claims.sub),
        state.store().sign_in_live(claims.sub, sign_in)
    );
    let user = user?;
    if !live? {
        return Err(ApiError::unauthorized());
    }
    Ok(user)
}

/// How stale a key's recorded last use may get: a key in steady use is written once per this
/// period, not on every request (a write transaction each).
const KEY_USE_PRECISION: time::Duration = time::Duration::minutes(1);

/// The live API key of `hash` and its owner, if the owner may use it. This node remembers
/// whose a usable key is ([`crate::key_owners`]) and forgets a key the store refuses.
async fn usable_key(state: &AppState, hash: &KeyHash) -> Result<(ApiKeyRecord, User), ApiError> {
    let usable = api_key(state, hash)
        .await
        .and_then(|(key, owner)| Ok((key, accounts::usable(Some(owner))?)));
    match &usable {
        Ok((_, owner)) => state.key_owners().remember(hash, owner.id),
        Err(_) => state.key_owners().forget(hash),
    }
    usable
}

/// The live API key of `hash`, checked against the stored hash, and its owner (one query).
/// Format and checksum were checked before ([`Credential::of`]).
async fn api_key(state: &AppState, hash: &KeyHash) -> Result<(ApiKeyRecord, User), ApiError> {
    let found = state.store().api_key_with_owner(hash.as_bytes()).await?;
    found
        .filter(|(record, _)| {
            KeyHash::from_slice(&record.key_hash).is_some_and(|stored| stored.ct_eq(hash))
        })
        .ok_or_else(ApiError::unauthorized)
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
