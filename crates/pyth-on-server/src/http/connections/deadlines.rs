//! One connection's deadlines, by what it is doing: waiting for a request head (the head
//! timeout, from connecting or from the first byte after a pause), idle between requests (the
//! keep-alive timeout) or serving a request (no deadline of its own: the body timeout bounds
//! the request body, the run limits the work). In every phase a write the client does not take
//! for the send timeout (the body timeout) ends the connection too.
//!
//! hyper knows the phases but offers one timer (its header-read timeout, which starts when the
//! connection goes idle); so a [`Tracker`] follows them from the socket ([`TrackedIo`]), the
//! request ([`Tracker::request_started`]) and the response body ([`TrackedBody`]), and
//! [`Tracker::expired`] resolves when the current deadline passes.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The limits a [`Tracker`] enforces.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// A request head must be complete within this.
    pub head: Duration,
    /// An idle connection is closed after this.
    pub keep_alive: Duration,
    /// A write the client does not take for this ends the connection.
    pub send: Duration,
}

/// Why a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// The request head was not complete in time.
    Head,
    /// Idle past the keep-alive timeout.
    KeepAlive,
    /// The client stopped taking the response.
    Send,
}

impl Expired {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Head => "request head timeout",
            Self::KeepAlive => "keep-alive timeout",
            Self::Send => "send timeout",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for (the rest of) a request head since then.
    Head(Instant),
    /// Between requests since then.
    Idle(Instant),
    /// A request is being served.
    Busy,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// Since when a write has been waiting for the client.
    write_stalled: Option<Instant>,
}

/// The phase of one connection and its current deadline.
#[derive(Debug)]
pub struct Tracker {
    limits: Deadlines,
    state: Mutex<State>,
    changed: Notify,
}

impl Tracker {
    /// A fresh connection: its first request head is due within the head timeout.
    pub fn new(limits: Deadlines) -> Arc<Self> {
        Arc::new(Self {
            limits,
            state: Mutex::new(State {
                phase: Phase::Head(Instant::now()),
                write_stalled: None,
            }),
            changed: Notify::new(),
        })
    }

    /// Resolves when the current deadline has passed; the caller then closes the connection.
    pub async fn expired(&self) -> Expired {
        loop {
            let now = Instant::now();
            match self.deadline() {
                Some((at, why)) if at <= now => return why,
                Some((at, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }

    /// A request head was read: the request is being served.
    pub fn request_started(&self) {
        self.set_phase(Phase::Busy);
    }

    /// The response has been handed to the connection: idle until the next request.
    fn response_finished(&self) {
        self.set_phase(Phase::Idle(Instant::now()));
    }

    /// Bytes arrived: after a pause, a new request head has begun.
    fn bytes_read(&self) {
        let mut state = self.lock();
        if matches!(state.phase, Phase::Idle(_)) {
            state.phase = Phase::Head(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// A write waits for the client (`true`) or went through (`false`).
    fn write_waiting(&self, waiting: bool) {
        let mut state = self.lock();
        match (waiting, state.write_stalled) {
            (true, None) => {
                state.write_stalled = Some(Instant::now());
                drop(state);
                self.changed.notify_one();
            }
            // A later deadline needs no wake-up: the watcher re-reads the state when it fires.
            (false, Some(_)) => state.write_stalled = None,
            _ => {}
        }
    }

    fn set_phase(&self, phase: Phase) {
        self.lock().phase = phase;
        self.changed.notify_one();
    }

    /// The earliest deadline in force and what passing it means.
    fn deadline(&self) -> Option<(Instant, Expired)> {
        let state = self.lock();
        let phase = match state.phase {
            Phase::Head(since) => Some((since + self.limits.head, Expired::Head)),
            Phase::Idle(since) => Some((since + self.limits.keep_alive, Expired::KeepAlive)),
            Phase::Busy => None,
        };
        let send = state
            .write_stalled
            .map(|since| (since + self.limits.send, Expired::Send));
        match (phase, send) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain values, each written in one step: a panic elsewhere cannot leave them torn.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The client socket, telling its [`Tracker`] when bytes arrive and when writes wait.
#[derive(Debug)]
pub struct TrackedIo<T> {
    inner: T,
    tracker: Arc<Tracker>,
}

impl<T> TrackedIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, tracker: Arc<Tracker>) -> Self {
        Self { inner, tracker }
    }

    fn noted<R>(&self, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        self.tracker.write_waiting(poll.is_pending());
        poll
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.tracker.bytes_read();
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.noted(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.noted(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.noted(poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body that marks its connection idle once hyper is done with it (sent or
/// dropped).
#[derive(Debug)]
pub struct TrackedBody {
    inner: Body,
    tracker: Arc<Tracker>,
}

impl TrackedBody {
    /// Wraps `inner`.
    pub fn new(inner: Body, tracker: Arc<Tracker>) -> Self {
        Self { inner, tracker }
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.tracker.response_finished();
    }
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Deadlines = Deadlines {
        head: Duration::from_millis(100),
        keep_alive: Duration::from_millis(400),
        send: Duration::from_millis(200),
    };

    /// What ended the wait and after how long (real time: the limits are short).
    async fn expires_after(tracker: &Tracker) -> (Expired, Duration) {
        let start = Instant::now();
        let why = tracker.expired().await;
        (why, start.elapsed())
    }

    async fn open_for(tracker: &Tracker, wait: Duration) -> bool {
        tokio::time::timeout(wait, tracker.expired()).await.is_err()
    }

    #[track_caller]
    fn assert_about(took: Duration, limit: Duration) {
        assert!(
            took >= limit && took < limit + Duration::from_millis(500),
            "{took:?} for {limit:?}"
        );
    }

    #[tokio::test]
    async fn a_fresh_connection_must_send_its_head_within_the_head_timeout() {
        let tracker = Tracker::new(LIMITS);
        let (why, took) = expires_after(&tracker).await;
        assert_eq!(why, Expired::Head);
        assert_about(took, LIMITS.head);
    }

    #[tokio::test]
    async fn an_idle_connection_lasts_the_keep_alive_timeout_then_the_head_timeout_runs() {
        let tracker = Tracker::new(LIMITS);
        tracker.request_started();
        tracker.response_finished();
        assert!(open_for(&tracker, Duration::from_millis(300)).await);
        tracker.bytes_read();
        let (why, took) = expires_after(&tracker).await;
        assert_eq!(why, Expired::Head);
        assert_about(took, LIMITS.head);
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_at_the_keep_alive_timeout() {
        let tracker = Tracker::new(LIMITS);
        tracker.request_started();
        tracker.response_finished();
        let (why, took) = expires_after(&tracker).await;
        assert_eq!(why, Expired::KeepAlive);
        assert_about(took, LIMITS.keep_alive);
    }

    #[tokio::test]
    async fn a_request_being_served_has_no_deadline_until_a_write_stalls() {
        let tracker = Tracker::new(LIMITS);
        tracker.request_started();
        assert!(open_for(&tracker, Duration::from_millis(600)).await);
        tracker.write_waiting(true);
        let (why, took) = expires_after(&tracker).await;
        assert_eq!(why, Expired::Send);
        assert_about(took, LIMITS.send);
    }

    #[tokio::test]
    async fn a_write_that_goes_through_clears_the_send_deadline() {
        let tracker = Tracker::new(LIMITS);
        tracker.request_started();
        tracker.write_waiting(true);
        tracker.write_waiting(false);
        assert!(open_for(&tracker, Duration::from_millis(600)).await);
    }
}
