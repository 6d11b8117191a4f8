//! The log line of a streamed answer (Server-Sent Events): written when the stream ends, with
//! the whole stream's duration, or as abandoned when the client went away before its end; not
//! when the answer's headers went out, about a millisecond after the request came.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// Milliseconds since `started`, to the microsecond (`0.375`, not `0.37524599999999997`): the
/// `duration_ms` of every request line.
pub(super) fn millis(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Whether `response` is a stream of events whose line waits for its end.
pub fn is_streamed(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// `response` with a body that logs the request's line (in `span`) when it ends or is dropped.
pub fn log_at_end(response: Response, span: tracing::Span, started: Instant) -> Response {
    let status = response.status().as_u16();
    response.map(|inner| {
        Body::new(LoggedStream {
            inner,
            line: Some(Line {
                span,
                started,
                status,
            }),
        })
    })
}

/// What the line says, once.
struct Line {
    span: tracing::Span,
    started: Instant,
    status: u16,
}

/// How a streamed answer ended.
enum End {
    /// Its last event was sent.
    Ended,
    /// Its source failed (a forwarded stream whose node went away).
    Failed,
    /// It was dropped before its end: its client went away (or the server shut down).
    Dropped,
}

impl Line {
    fn log(self, end: End) {
        let (status, duration_ms) = (self.status, millis(self.started));
        self.span.in_scope(|| match end {
            End::Ended => tracing::info!(http.status = status, duration_ms, "request"),
            End::Failed => {
                tracing::warn!(http.status = status, duration_ms, "request stream failed")
            }
            End::Dropped => tracing::info!(
                http.status = status,
                duration_ms,
                "request abandoned by the client"
            ),
        });
    }
}

/// A streamed body that logs its request's line at its end.
struct LoggedStream {
    inner: Body,
    line: Option<Line>,
}

impl http_body::Body for LoggedStream {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let end = match &polled {
            Poll::Ready(None) => Some(End::Ended),
            Poll::Ready(Some(Err(_))) => Some(End::Failed),
            _ => None,
        };
        if let Some((line, end)) = end.and_then(|end| Some((this.line.take()?, end))) {
            line.log(end);
        }
        polled
    }

    // `is_end_stream` stays `false` (the default): hyper then polls until the end, so a
    // finished stream is logged as ended, never as abandoned.

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedStream {
    fn drop(&mut self) {
        if let Some(line) = self.line.take() {
            line.log(End::Dropped);
        }
    }
}
