//! Sessions across nodes (`--node-url`): a session lives on one node, and its record names it.
//! A request for a session (`/api/v1/sessions/{id}` and below) that another node holds is
//! forwarded there by [`forward_to_owner`], so a load balancer needs no stickiness; the caller's
//! sessions on other nodes are listed from their records ([`listed_elsewhere`]). A session
//! whose node does not answer, or answers that it does not have it, is reported ended and its
//! record removed. Without a node URL there are no records and nothing is forwarded.
//!
//! The owner is checked here before forwarding (another user's session is not found, as on
//! its own node) and again by the owning node, which authenticates the forwarded credentials
//! itself and takes the caller's rate limit: a forwarded request counts once.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pyth_on_store::SessionRecord;
use pyth_on_types::SessionInfo;
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::{ApiError, LoggedError};
use crate::http::auth::authenticate;
use crate::http::client_ip::client_ip;
use crate::http::forward::{ForwardError, Forwarder, FORWARDED_BY};
use crate::sessions::node::Holder;
use crate::sessions::records;
use crate::state::AppState;

/// On the answer to a forwarded request: the session is not on the answering node (it ended,
/// or the node restarted since).
pub const SESSION_GONE: HeaderName = HeaderName::from_static("x-pyth-on-session-gone");

/// What the forwarding middleware holds: the state and the connection pool to other nodes.
#[derive(Debug, Clone)]
pub struct SessionNodes {
    state: AppState,
    forwarder: Forwarder,
}

impl SessionNodes {
    /// Forwarded requests must be answered (their headers) within the longest cell and a
    /// minute: past that the owning node is taken for gone.
    pub fn new(state: AppState) -> anyhow::Result<Self> {
        let cell = Duration::from_millis(state.settings().max_timeout_ms);
        let forwarder = Forwarder::new(cell + Duration::from_secs(60))?;
        Ok(Self { state, forwarder })
    }
}

/// The session id of a `/api/v1/sessions/{id}[/...]` path.
fn session_in_path(path: &str) -> Option<Uuid> {
    let rest = path.strip_prefix("/api/v1/sessions/")?;
    let id = rest.split('/').next()?;
    Uuid::parse_str(id).ok()
}

/// The middleware, outside authentication on `/api/v1/*`: a request for a session held by
/// another node goes there; anything else goes on here.
pub async fn forward_to_owner(
    State(nodes): State<SessionNodes>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let Some(id) = session_in_path(request.uri().path()) else {
        return next.run(request).await;
    };
    let state = &nodes.state;
    if request.headers().contains_key(FORWARDED_BY) {
        return served_for_another_node(request, next).await;
    }
    if state.sessions().contains(id) {
        return next.run(request).await;
    }
    let record = match records::find(state, id).await {
        Ok(Some(record)) => record,
        Ok(None) => return next.run(request).await,
        Err(err) => return ApiError::from(err).into_response(),
    };
    match state.node().holder(&record) {
        // Ending right now (its record goes last): answered here.
        Holder::Here => next.run(request).await,
        Holder::EarlierRunHere => {
            records::close_dead(state, &record).await;
            next.run(request).await
        }
        Holder::Elsewhere => to_owner(&nodes, &record, peer, request, next).await,
    }
}

/// A request another node forwarded: served here, never forwarded again. An answer that the
/// session is not found (not here, or not the caller's: the two are never told apart) says so
/// in [`SESSION_GONE`], so the forwarding node can tell it from any other 404 (a file).
async fn served_for_another_node(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let session_not_found = response
        .extensions()
        .get::<LoggedError>()
        .is_some_and(|logged| matches!(*logged.0, ApiError::NotFound("session")));
    if session_not_found {
        response
            .headers_mut()
            .insert(SESSION_GONE, HeaderValue::from_static("1"));
    }
    response
}

/// Forwards the owner's request to the node holding the session. Without valid credentials,
/// or for another user, the request is answered here (401, or not found).
async fn to_owner(
    nodes: &SessionNodes,
    record: &SessionRecord,
    peer: SocketAddr,
    request: Request,
    next: Next,
) -> Response {
    let state = &nodes.state;
    let ip = client_ip(peer, request.headers(), &state.settings().trusted_proxies);
    match authenticate(state, request.headers(), ip).await {
        Ok(caller) if caller.user_id == record.user_id => {}
        _ => return next.run(request).await,
    }
    let by = state.node().url().unwrap_or_default();
    let forwarded = nodes
        .forwarder
        .forward(&record.node_url, request, peer.ip(), by)
        .await;
    match forwarded {
        Ok(response) if !response.headers().contains_key(SESSION_GONE) => response,
        Ok(_) => {
            ended(
                state,
                record,
                "it is no longer open on the server that held it",
            )
            .await
        }
        Err(ForwardError::Unreachable(err)) => {
            tracing::warn!(session = %record.session_id, node = %record.node_url,
                error = ?err, "a session's node did not answer; the session is reported ended");
            ended(state, record, "the server that held it is gone").await
        }
        Err(ForwardError::Failed(err)) => {
            tracing::warn!(session = %record.session_id, node = %record.node_url,
                error = %err, "a request could not be forwarded to a session's node");
            ApiError::Upstream("the server holding this session did not answer properly".into())
                .into_response()
        }
    }
}

/// Takes the record of a session that is over off the record and says so (404 `not_found`).
async fn ended(state: &AppState, record: &SessionRecord, why: &str) -> Response {
    records::close_dead(state, record).await;
    ApiError::Gone(format!("session not found: it has ended ({why})")).into_response()
}

/// The caller's sessions on other nodes, from their records; the status of such a session is
/// `unknown` (GET it for its live state).
pub async fn listed_elsewhere(
    state: &AppState,
    user: &Caller,
) -> Result<Vec<SessionInfo>, ApiError> {
    let found = records::elsewhere(state, user.user_id).await?;
    Ok(found.iter().map(info).collect())
}

/// What the API says about a session from its record.
fn info(record: &SessionRecord) -> SessionInfo {
    let whole = |n: i64| u64::try_from(n).unwrap_or_default();
    SessionInfo {
        id: record.session_id,
        language: record.language.clone(),
        status: "unknown".to_owned(),
        memory_mb: whole(record.memory_mb),
        idle_timeout_sec: whole(record.idle_timeout_secs),
        max_lifetime_sec: whole(record.max_lifetime_secs),
        created_at: record.created_at,
        last_used_at: record.last_used_at,
        expires_at: record.expires_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_of_a_path_is_its_first_segment_below_sessions() {
        let id = Uuid::now_v7();
        for path in [
            format!("/api/v1/sessions/{id}"),
            format!("/api/v1/sessions/{id}/execute"),
            format!("/api/v1/sessions/{id}/interrupt"),
            format!("/api/v1/sessions/{id}/files/a/b.txt"),
        ] {
            assert_eq!(session_in_path(&path), Some(id), "{path}");
        }
        for path in [
            "/api/v1/sessions",
            "/api/v1/sessions/",
            "/api/v1/sessions/x/execute",
        ] {
            assert_eq!(session_in_path(path), None, "{path}");
        }
        assert_eq!(session_in_path(&format!("/api/v1/secrets/{id}")), None);
    }
}
