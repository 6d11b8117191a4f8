//! Sessions: open, list, look at, end, run cells in and interrupt them (`/api/v1/sessions`). Another user's
//! session is not found, never forbidden: its existence is not revealed.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use pyth_on_types::{
    CellRequest, CellResponse, CellStartEvent, CreateSessionRequest, InterruptResponse,
    RunOutputEvent, SessionInfo, SessionList,
};
use tokio::sync::mpsc::UnboundedReceiver;
use uuid::Uuid;

use super::execute::{json_event, wants_event_stream};
use crate::caller::Caller;
use crate::context::current_request_id;
use crate::error::ApiError;
use crate::http::json::AppJson;
use crate::sessions::stream::CellEvent;
use crate::sessions::{self, Cell, Entry, NewSession};
use crate::state::AppState;

/// What the API says about a session.
fn info(entry: &Entry) -> SessionInfo {
    let (_, last_used_at) = entry.last_used();
    let to_time = |d: Duration| time::Duration::try_from(d).unwrap_or(time::Duration::MAX);
    let idle_end = last_used_at.saturating_add(to_time(entry.idle_timeout));
    let life_end = entry.created_at.saturating_add(to_time(entry.max_lifetime));
    let busy = entry.kernel.try_lock().is_err();
    SessionInfo {
        id: entry.id,
        language: entry.language.as_str().to_string(),
        status: if busy { "busy" } else { "idle" }.to_string(),
        memory_mb: entry.memory_mb,
        idle_timeout_sec: entry.idle_timeout.as_secs(),
        max_lifetime_sec: entry.max_lifetime.as_secs(),
        created_at: pyth_on_store::truncate_to_millis(entry.created_at),
        last_used_at: pyth_on_store::truncate_to_millis(last_used_at),
        expires_at: pyth_on_store::truncate_to_millis(idle_end.min(life_end)),
    }
}

/// A session id from the path; anything else is not found.
pub(crate) fn session_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound("session"))
}

/// Open a session: a sandbox with a live interpreter that keeps its state between cells, the
/// caller's secrets in its environment.
#[utoipa::path(post, path = "/api/v1/sessions", operation_id = "create_session", tag = "Sessions",
    request_body = CreateSessionRequest, security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = SessionInfo),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed (details names the field), unsupported_language, invalid_name and reserved_name (an env name)"),
        (status = 429, body = pyth_on_types::ErrorBody, description = "too_many_sessions: you hold `--max-sessions-per-user` sessions on this server (Retry-After); quota_exceeded: you hold your quota of sessions on all nodes (`details.quota` `sessions`; without `Retry-After`: end a session first)"),
        (status = 503, body = pyth_on_types::ErrorBody, description = "sessions_full: this server holds `--max-sessions` sessions (Retry-After); sandbox_unavailable")))]
pub async fn create_session(
    State(state): State<AppState>,
    user: Caller,
    AppJson(body): AppJson<CreateSessionRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewSession::parse(state.settings(), body)?;
    let entry = sessions::create(&state, &user, new).await?;
    Ok((StatusCode::CREATED, AppJson(info(&entry))))
}

/// The caller's open sessions on every server node, oldest first (those on other nodes
/// from their records, with status `unknown`).
#[utoipa::path(get, path = "/api/v1/sessions", operation_id = "list_sessions", tag = "Sessions",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = SessionList)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    user: Caller,
) -> Result<AppJson<SessionList>, ApiError> {
    let mut sessions: Vec<SessionInfo> = sessions::list(&state, &user)
        .iter()
        .map(|e| info(e))
        .collect();
    sessions.extend(super::session_nodes::listed_elsewhere(&state, &user).await?);
    sessions.sort_by_key(|s| (s.created_at, s.id));
    Ok(AppJson(SessionList { sessions }))
}

/// One of the caller's sessions.
#[utoipa::path(get, path = "/api/v1/sessions/{id}", operation_id = "get_session", tag = "Sessions",
    params(("id" = Uuid, Path, description = "session id; anything else is not found")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = SessionInfo),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found: no open session of yours has this id")))]
pub async fn get_session(
    State(state): State<AppState>,
    user: Caller,
    Path(id): Path<String>,
) -> Result<AppJson<SessionInfo>, ApiError> {
    let entry = sessions::get(&state, &user, session_id(&id)?)?;
    Ok(AppJson(info(&entry)))
}

/// End a session: its sandbox and every process in it are gone when this answers (a running
/// cell is stopped at once).
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", operation_id = "delete_session", tag = "Sessions",
    params(("id" = Uuid, Path, description = "session id; anything else is not found")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found: no open session of yours has this id")))]
pub async fn delete_session(
    State(state): State<AppState>,
    user: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    sessions::delete(&state, &user, session_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Run one cell in a session, against the state earlier cells left. One cell at a time. With
/// `Accept: text/event-stream` the answer is a stream of Server-Sent Events: `start`
/// (CellStartEvent), `stdout` and `stderr` (RunOutputEvent) as the cell writes, then `result`
/// (CellResponse) or `error` (ErrorBody). A streamed cell goes on to its end if the client
/// goes away.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/execute", operation_id = "execute_cell", tag = "Sessions",
    params(("id" = Uuid, Path, description = "session id; anything else is not found")),
    request_body = CellRequest, security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The cell's answer (JSON; `sessionEnded` when the interpreter ended with it: the session is then gone), or its live events with `Accept: text/event-stream`: `start` (CellStartEvent), `stdout` and `stderr` (RunOutputEvent), then `result` (CellResponse) or `error` (ErrorBody)",
            content((CellResponse = "application/json"), (String = "text/event-stream", example = json!("event: start\ndata: {\"sessionId\":\"0193...\"}\n\nevent: stdout\ndata: {\"text\":\"1\\n\"}\n\nevent: result\ndata: {\"stdout\":\"1\\n\",\"results\":[],...}\n\n")))),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed (details names the field)"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found: no open session of yours has this id (or it ended)"),
        (status = 409, body = pyth_on_types::ErrorBody, description = "session_busy: a cell of this session is running"),
        (status = 413, body = pyth_on_types::ErrorBody, description = "payload_too_large: the code is over `--max-code-bytes`"),
        (status = 429, body = pyth_on_types::ErrorBody, description = "too_many_runs: your share of the run queue is full; quota_exceeded: your runs or CPU seconds of the day (UTC) are used up (`details`: quota, limit, used, resetAt; Retry-After until 00:00 UTC)"),
        (status = 503, body = pyth_on_types::ErrorBody, description = "sandbox_unavailable (Retry-After): no execution slot, or the session's sandbox failed (the session is then gone)")))]
pub async fn execute_cell(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: Caller,
    Path(id): Path<String>,
    AppJson(body): AppJson<CellRequest>,
) -> Result<Response, ApiError> {
    let id = session_id(&id)?;
    let cell = Cell::parse(state.settings(), body).map_err(sessions::SessionError::from)?;
    if wants_event_stream(&headers) {
        let events = sessions::stream::execute_stream(&state, &user, id, cell).await?;
        let start = CellStartEvent { session_id: id };
        let first = json_event("start", &start);
        return Ok(Sse::new(cell_events(first, events, current_request_id()))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    Ok(AppJson(sessions::execute(&state, &user, id, cell).await?).into_response())
}

/// Interrupt the cell running in a session: its kernel gets SIGINT, as at the cell's limit.
/// The cell's own answer then has `interrupted: true` and usually an error
/// (`KeyboardInterrupt` in Python, an `Error` "Script execution was interrupted" in JavaScript),
/// and the session keeps its variables. A cell that catches or ignores the interrupt and has
/// not ended 2 s later ends the session (its answer says `sessionEnded`). Answers at once,
/// without waiting for the cell.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/interrupt", operation_id = "interrupt_session", tag = "Sessions",
    params(("id" = Uuid, Path, description = "session id; anything else is not found")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = InterruptResponse, description = "`interrupted: true`: a cell was running and got the interrupt; `false`: the session was idle, nothing was done"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found: no open session of yours has this id")))]
pub async fn interrupt_session(
    State(state): State<AppState>,
    user: Caller,
    Path(id): Path<String>,
) -> Result<AppJson<InterruptResponse>, ApiError> {
    let interrupted = sessions::interrupt(&state, &user, session_id(&id)?).await?;
    Ok(AppJson(InterruptResponse { interrupted }))
}

/// A cell's events as SSE: `start`, output, then `result` or `error`.
fn cell_events(
    first: Event,
    events: UnboundedReceiver<CellEvent>,
    request_id: String,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let state = (Some(first), Some(events), request_id);
    futures::stream::unfold(state, |(first, events, request_id)| async move {
        if let Some(first) = first {
            return Some((Ok(first), (None, events, request_id)));
        }
        let mut events = events?;
        let (event, last) = match events.recv().await? {
            CellEvent::Output { stream, text } => {
                (json_event(stream.as_str(), &RunOutputEvent { text }), false)
            }
            CellEvent::Finished(answer) => match *answer {
                Ok(response) => (json_event("result", &response), true),
                Err(err) => {
                    let body = ApiError::from(err).body(request_id.clone());
                    (json_event("error", &body), true)
                }
            },
        };
        let next = (!last).then_some(events);
        Some((Ok(event), (None, next, request_id)))
    })
}
