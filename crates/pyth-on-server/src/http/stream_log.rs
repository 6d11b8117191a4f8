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

impl Line {
    fn log(self, ended: bool) {
        let duration_ms = millis(self.started);
        self.span.in_scope(|| {
            if ended {
                tracing::info!(http.status = self.status, duration_ms, "request");
            } else {
                tracing::info!(
                    http.status = self.status,
                    duration_ms,
                    "request abandoned by the client"
                );
            }
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
        if let Poll::Ready(None) = polled {
            if let Some(line) = this.line.take() {
                line.log(true);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedStream {
    fn drop(&mut self) {
        if let Some(line) = self.line.take() {
            line.log(false);
        }
    }
}
