//! Request ids, the per-request log line, and the guarantee that every error body has the
//! `Error` shape.
//!
//! The outermost middleware accepts a sane incoming `x-request-id` (else makes a UUIDv7), keeps
//! it in a task-local so `ApiError` can put it into bodies, echoes it on the response, opens the
//! request's span (request id, method, the matched route *template*, never the raw path, which
//! holds user-chosen names; the user id once authenticated) that every event of the request
//! inherits, logs one line per request (status, duration: never a body or a credential), logs
//! an error's cause chain once, and rewrites any non-JSON error response (axum's 405, a panic)
//! into the `Error` envelope.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use tracing::Instrument;

use super::stream_log::millis;
use crate::context::REQUEST_ID;
use crate::error::{ApiError, LoggedError};

/// The request's log line when it is dropped unanswered (its client went away): without it,
/// such a request would leave no line at all.
struct Unanswered {
    span: tracing::Span,
    started: Instant,
    answered: bool,
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if !self.answered {
            let duration_ms = millis(self.started);
            self.span.in_scope(|| {
                tracing::info!(duration_ms, "request abandoned by the client");
            });
        }
    }
}

fn sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The outermost middleware.
pub async fn request_id_layer(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_string);
    // The route template (`/api/v1/secrets/{name}`), never the path itself.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "request",
        request.id = %id,
        http.method = %request.method(),
        http.route = %route,
        user.id = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut unanswered = Unanswered {
        span: span.clone(),
        started,
        answered: false,
    };

    let mut response = REQUEST_ID
        .scope(id.clone(), async move {
            let response = next.run(request).await;
            normalise_error(response)
        })
        .instrument(span.clone())
        .await;
    unanswered.answered = true;
    if super::stream_log::is_streamed(&response) {
        response = super::stream_log::log_at_end(response, span, started);
    } else {
        span.in_scope(|| log_answer(&response, started));
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// The request's line: its status and duration, and an error's code or cause chain.
fn log_answer(response: &Response, started: Instant) {
    let status = response.status().as_u16();
    let duration_ms = millis(started);
    match response.extensions().get::<LoggedError>() {
        Some(LoggedError(err)) if matches!(**err, ApiError::Internal(_)) => {
            tracing::error!(http.status = status, duration_ms, error = ?anyhow_chain(err), "request failed");
        }
        Some(LoggedError(err)) => {
            tracing::info!(
                http.status = status,
                duration_ms,
                error.code = err.code(),
                "request refused"
            );
        }
        None => tracing::info!(http.status = status, duration_ms, "request"),
    }
}

fn anyhow_chain(err: &ApiError) -> String {
    let mut out = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Turns an error response that is not already JSON (axum's own 404/405/415 answers, a caught
/// panic) into the `Error` envelope.
fn normalise_error(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let err = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound("route"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::BadRequest {
            code: "method_not_allowed",
            message: "this method is not allowed on this route".into(),
            details: None,
        },
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge("the request body is too large".into()),
        s if s.is_client_error() => ApiError::bad_request("the request could not be understood"),
        _ => ApiError::Internal(anyhow::anyhow!("unstructured {status} response")),
    };
    let mut new = err.into_response();
    // Keep 405 as 405 so clients and caches see the right status, with our body.
    if status == StatusCode::METHOD_NOT_ALLOWED {
        *new.status_mut() = status;
        if let Some(allow) = response.headers().get(header::ALLOW) {
            new.headers_mut().insert(header::ALLOW, allow.clone());
        }
    }
    new
}

#[cfg(test)]
mod tests {
    use super::sane;

    #[test]
    fn request_ids_with_odd_characters_are_not_echoed() {
        assert!(sane("abc-123_x.y:z"));
        assert!(!sane(""));
        assert!(!sane("a b"));
        assert!(!sane("a\nb"));
        assert!(!sane(&"a".repeat(129)));
    }
}
