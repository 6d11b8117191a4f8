//! The accept loop: admits a connection under the caps or sheds it, serves admitted ones with
//! hyper's HTTP/1 connection (the router as a `tower::Service`, `ConnectInfo<SocketAddr>` added
//! per connection, request bodies behind tower-http's body timeout), closes them when their
//! deadline passes, and on shutdown stops accepting and lets in-flight requests finish
//! (hyper-util's `GracefulShutdown`).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use ipnet::IpNet;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tower::ServiceBuilder;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutBody};

use super::caps::{Caps, Refused};
use super::deadlines::{Deadlines, TrackedBody, TrackedIo, Tracker};
use super::{descriptors, ConnectionSettings};

/// Pause after an accept error that is not the peer's (`EMFILE`, `ENFILE`, `ENOBUFS`): the
/// loop neither spins nor stops, and a freed descriptor is picked up soon.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Shortest gap between two warnings about shed connections or accept errors.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The answer a shed connection gets before it is closed (written only if the socket takes it
/// at once).
const SHED_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 93\r\n\r\n\
{\"error\":\"too many connections; retry shortly\",\"code\":\"too_many_connections\",\"requestId\":\"-\"}";

/// What every connection shares.
#[derive(Debug, Clone)]
struct Shared {
    app: Router,
    http: http1::Builder,
    deadlines: Deadlines,
    body_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, under the connection settings; then
/// stops accepting, closes idle connections and waits for in-flight requests to finish.
/// Peers in `trusted_proxies` count only towards the overall cap.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: &ConnectionSettings,
    trusted_proxies: &[IpNet],
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let overall = descriptors::fit_connections(settings.max_connections as usize);
    let caps = Caps::new(
        overall,
        settings.max_connections_per_address as usize,
        trusted_proxies.to_vec(),
    );
    let deadlines = settings.deadlines();
    let mut http = http1::Builder::new();
    // hyper's own header-read timer starts whenever a connection waits for a head, idle time
    // included: a backstop behind the tracker's finer deadlines.
    http.timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(deadlines.head + deadlines.keep_alive);
    let shared = Shared {
        app,
        http,
        deadlines,
        body_timeout: Duration::from_secs(settings.body_timeout_secs),
    };
    let graceful = GracefulShutdown::new();
    accept_until(&listener, &caps, &shared, &graceful, shutdown).await;
    drop(listener);
    tracing::info!(
        open = caps.open(),
        "stopped accepting; waiting for in-flight requests"
    );
    graceful.shutdown().await;
}

/// Accepts until `shutdown` resolves.
async fn accept_until(
    listener: &TcpListener,
    caps: &Arc<Caps>,
    shared: &Shared,
    graceful: &GracefulShutdown,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut shed_log = Throttled::default();
    let mut error_log = Throttled::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) if is_peer_error(&err) => continue,
            Err(err) => {
                if let Some(suppressed) = error_log.due() {
                    tracing::warn!(error = %err, suppressed, "accept failed; backing off");
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        match caps.admit(peer.ip()) {
            Ok(slot) => {
                let shared = shared.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    serve_connection(stream, peer, shared, watcher).await;
                    drop(slot);
                });
            }
            Err(cap) => shed(stream, peer.ip(), cap, &mut shed_log),
        }
    }
}

/// Serves one connection until it ends, fails or passes its deadline.
async fn serve_connection(stream: TcpStream, peer: SocketAddr, shared: Shared, watcher: Watcher) {
    let _ = stream.set_nodelay(true);
    let tracker = Tracker::new(shared.deadlines);
    let io = TokioIo::new(TrackedIo::new(stream, Arc::clone(&tracker)));
    let on_request = Arc::clone(&tracker);
    let on_response = Arc::clone(&tracker);
    let service = ServiceBuilder::new()
        .layer(RequestBodyTimeoutLayer::new(shared.body_timeout))
        .map_request(move |mut request: Request<TimeoutBody<Incoming>>| {
            on_request.request_started();
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        })
        .map_response(move |response: Response| {
            let tracker = Arc::clone(&on_response);
            response.map(|body| TrackedBody::new(body, tracker))
        })
        .service(shared.app);
    let connection = watcher.watch(
        shared
            .http
            .serve_connection(io, TowerToHyperService::new(service)),
    );
    tokio::select! {
        result = connection => {
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        }
        why = tracker.expired() => {
            tracing::debug!(%peer, reason = why.as_str(), "connection closed");
        }
    }
}

/// Closes a connection past a cap at once, with a `503` if the socket takes it without waiting.
fn shed(stream: TcpStream, peer: IpAddr, cap: Refused, log: &mut Throttled) {
    let _ = stream.try_write(SHED_RESPONSE);
    drop(stream);
    if let Some(suppressed) = log.due() {
        tracing::warn!(%peer, cap = cap.as_str(), suppressed, "connection refused: over a cap");
    }
}

/// Accept errors that concern one peer only (it went away before we took it).
fn is_peer_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A warning at most every [`WARN_EVERY`], counting the ones left out in between.
#[derive(Debug, Default)]
struct Throttled {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttled {
    /// `Some(left out since the last one)` when a warning is due.
    fn due(&mut self) -> Option<u64> {
        self.due_at(Instant::now())
    }

    fn due_at(&mut self, now: Instant) -> Option<u64> {
        if self.last.is_some_and(|last| now < last + WARN_EVERY) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shed_response_is_well_formed() {
        let text = std::str::from_utf8(SHED_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["code"], "too_many_connections");
    }

    #[test]
    fn warnings_are_throttled_and_count_what_was_left_out() {
        let start = Instant::now();
        let mut log = Throttled::default();
        assert_eq!(log.due_at(start), Some(0));
        assert_eq!(log.due_at(start), None);
        assert_eq!(log.due_at(start + WARN_EVERY / 2), None);
        assert_eq!(log.due_at(start + WARN_EVERY), Some(2));
        assert_eq!(log.due_at(start + WARN_EVERY), None);
    }
}
