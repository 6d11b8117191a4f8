//! `POST /api/v1/execute` (JSON, or Server-Sent Events with `Accept: text/event-stream`) and
//! `POST /api/v1/executions/{id}/cancel`.

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use pyth_on_types::{ExecuteRequest, ExecuteResponse, RunOutputEvent, RunStartEvent};
use uuid::Uuid;

use crate::caller::Caller;
use crate::context::current_request_id;
use crate::error::ApiError;
use crate::execution::live::{LiveEvent, Streamed};
use crate::execution::{self, RunRequest};
use crate::http::json::AppJson;
use crate::state::AppState;

/// Run code once in a fresh sandbox. A failing program is still a 200; 4xx means it never ran.
///
/// With `Accept: text/event-stream` the answer is a stream of Server-Sent Events: `start`
/// (data: `RunStartEvent`), then `stdout` and `stderr` (`RunOutputEvent`, as the program
/// writes, secret values masked), then one `result` (`ExecuteResponse`) or `error`
/// (`ErrorBody`) and the end of the stream. Errors before the run starts are ordinary JSON answers.
/// Closing the stream stops the run.
#[utoipa::path(post, path = "/api/v1/execute", operation_id = "execute", tag = "Execute", request_body = ExecuteRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The run's answer (JSON), or its live events with `Accept: text/event-stream`: `start` (RunStartEvent), `stdout` and `stderr` (RunOutputEvent), then `result` (ExecuteResponse) or `error` (ErrorBody)",
            content((ExecuteResponse = "application/json"), (String = "text/event-stream", example = json!("event: start\ndata: {\"executionId\":\"0193...\"}\n\nevent: stdout\ndata: {\"text\":\"0\\n\"}\n\nevent: result\ndata: {\"output\":\"0\\n\",\"error\":\"\",\"exitCode\":0,...}\n\n")))),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed (details names the field: also a file path, `entry`, `outputFiles`), unsupported_language, network_disabled, too_many_packages, invalid_package, invalid_name and reserved_name (an env name), packages_unavailable (packages asked for on a server without them)"),
        (status = 413, body = pyth_on_types::ErrorBody, description = "payload_too_large: the code is over `--max-code-bytes`, or the files over `--max-input-files`, `--max-input-file-bytes` or `--max-input-files-bytes`"),
        (status = 422, body = pyth_on_types::ErrorBody, description = "package_install_failed: the run's packages could not be installed"),
        (status = 429, body = pyth_on_types::ErrorBody, description = "too_many_runs: your share of the run queue is full; too_many_builds; quota_exceeded: your runs or CPU seconds of the day (UTC) are used up (`details`: quota, limit, used, resetAt; Retry-After until 00:00 UTC)"),
        (status = 503, body = pyth_on_types::ErrorBody, description = "sandbox_unavailable (Retry-After), package_builds_busy (Retry-After)")))]
pub async fn execute(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: Caller,
    AppJson(body): AppJson<ExecuteRequest>,
) -> Result<Response, ApiError> {
    let request = RunRequest::parse(&state, body)?;
    if wants_event_stream(&headers) {
        let streamed = execution::stream(&state, &user, request).await?;
        return Ok(Sse::new(events(streamed, current_request_id()))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    Ok(AppJson(execution::run(&state, &user, request).await?).into_response())
}

/// Stop a run in progress (its owner only, from any connection to the node running it).
#[utoipa::path(post, path = "/api/v1/executions/{id}/cancel", operation_id = "cancel_execution", tag = "Execute",
    params(("id" = Uuid, Path, description = "The run's `executionId` (the `start` event of a streamed run)")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, description = "The run is being stopped; its answer says `cancelled: true`"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found: no run of yours with this id is in progress on this server")))]
pub async fn cancel(
    State(state): State<AppState>,
    user: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::NotFound("execution");
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    state
        .cancels()
        .cancel(id, user.user_id)
        .map_err(|_| not_found())?;
    Ok(StatusCode::ACCEPTED)
}

/// Whether the client asked for Server-Sent Events.
pub(crate) fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// The run's events as SSE: `start`, output, then `result` or `error`. The stream holds the
/// run's stop guard, so the run stops when the client goes away.
fn events(streamed: Streamed, request_id: String) -> impl Stream<Item = Result<Event, Infallible>> {
    let start = RunStartEvent {
        execution_id: streamed.execution_id,
    };
    let start = serde_json::to_string(&start).unwrap_or_else(|_| "{}".into());
    let first = Event::default().event("start").data(start);
    let state = (Some(first), Some(streamed), request_id);
    futures::stream::unfold(state, |(first, streamed, request_id)| async move {
        if let Some(first) = first {
            return Some((Ok(first), (None, streamed, request_id)));
        }
        let mut streamed = streamed?;
        let event = streamed.events.recv().await?;
        let (event, last) = sse_event(event, &request_id);
        let next = (!last).then_some(streamed);
        Some((Ok(event), (None, next, request_id)))
    })
}

/// A wire type as one SSE event named `name`.
pub(crate) fn json_event(name: &'static str, data: &impl serde::Serialize) -> Event {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    Event::default().event(name).data(data)
}

/// One live event as SSE, and whether it is the last.
fn sse_event(event: LiveEvent, request_id: &str) -> (Event, bool) {
    match event {
        LiveEvent::Output { stream, text } => {
            let data = serde_json::to_string(&RunOutputEvent { text });
            let data = data.unwrap_or_else(|_| "{}".into());
            (Event::default().event(stream.as_str()).data(data), false)
        }
        LiveEvent::Finished(answer) => {
            let (name, data) = match *answer {
                Ok(response) => ("result", serde_json::to_string(&response)),
                Err(err) => {
                    let body = ApiError::from(err).body(request_id.to_string());
                    ("error", serde_json::to_string(&body))
                }
            };
            let data = data.unwrap_or_else(|_| "{}".into());
            (Event::default().event(name).data(data), true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_accept_header_naming_event_stream_asks_for_events() {
        let with = |accept: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, accept.parse().unwrap());
            wants_event_stream(&h)
        };
        assert!(with("text/event-stream"));
        assert!(with("application/json, Text/Event-Stream;q=0.9"));
        assert!(!with("application/json"));
        assert!(!with("*/*"));
        assert!(!wants_event_stream(&HeaderMap::new()));
    }
}
