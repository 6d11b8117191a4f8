//! The per-run proxy: one [`RunProxy`] per run that asked for the network, serving the
//! connections the sandbox relays to it. Each client connection is an HTTP/1.1 connection
//! served by `hyper`, which frames every request on it (keep-alive and pipelining work, and
//! each request is parsed, counted and checked on its own): `CONNECT host:port` to a
//! configured port (a byte tunnel, for TLS) and absolute-form `http://` requests, each
//! forwarded on a fresh upstream connection with `Host` set to the checked target. It
//! resolves names itself, checks every resolved address ([`Policy::check`]) and connects only
//! to an address it checked. Refusals are `403` answers the program sees.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use crate::body::{BoxError, Driven, Metered};
use crate::head::{self, Target, MAX_HEADERS, MAX_HEAD_BYTES};
use crate::meter::{Bounds, ByteBudget, Cut, EgressStats, Meter};
use crate::policy::{HostPattern, Policy, Refusal};

/// Longest a client may take to send a request head (or stay idle between requests).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest name resolution may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// DNS lookups in flight across every run of this process (each holds a blocking thread).
static LOOKUPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_LOOKUPS);
/// See [`LOOKUPS`].
const MAX_LOOKUPS: usize = 32;
/// Longest one upstream connect attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Relay buffer size.
const CHUNK: usize = 16 * 1024;
/// Ports `CONNECT` may reach unless [`RunProxy::with_connect_ports`] says otherwise.
const DEFAULT_CONNECT_PORTS: &[u16] = &[443];

/// Every body the proxy answers with.
type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;
/// A tunnel the client's last request (a `CONNECT`) opened, waiting for the connection.
type Tunnel = Mutex<Option<(OnUpgrade, TcpStream)>>;

/// The proxy of one run: the operator's policy, an optional narrowing allow-list, the ports
/// `CONNECT` may reach, the run's bounds and counters. Identity comes from whoever built it
/// (the server), never from the traffic.
#[derive(Debug)]
pub struct RunProxy {
    policy: Arc<Policy>,
    narrow: Option<Vec<HostPattern>>,
    connect_ports: Vec<u16>,
    /// `Some`: forwarded `http://` requests are `GET`/`HEAD` to these ports only (a package
    /// build reads its index; it never posts to it or probes other ports).
    read_only_ports: Option<Vec<u16>>,
    meter: Arc<Meter>,
    /// Set by the first connection: time spent queued for a sandbox does not count.
    deadline: OnceLock<Instant>,
}

impl RunProxy {
    /// A proxy for one run; its time bound starts with its first connection. `CONNECT` may
    /// reach port 443 only.
    pub fn new(policy: Arc<Policy>, bounds: Bounds) -> Self {
        Self {
            policy,
            narrow: None,
            connect_ports: DEFAULT_CONNECT_PORTS.to_vec(),
            read_only_ports: None,
            meter: Arc::new(Meter::new(bounds, None)),
            deadline: OnceLock::new(),
        }
    }

    /// Also requires hosts to match this list (a user's allow-list).
    pub fn with_narrowing(mut self, list: Vec<HostPattern>) -> Self {
        self.narrow = Some(list);
        self
    }

    /// The ports `CONNECT` may reach (instead of 443 only); other ports get a `403`.
    pub fn with_connect_ports(mut self, ports: Vec<u16>) -> Self {
        self.connect_ports = ports;
        self
    }

    /// Forwarded `http://` requests may only read (`GET`, `HEAD`) and only on `ports`; any
    /// other method or port gets a `403`. (`CONNECT` stays bound by its own ports.)
    pub fn read_only(mut self, ports: Vec<u16>) -> Self {
        self.read_only_ports = Some(ports);
        self
    }

    /// Draws relayed bytes from a shared budget (the user's bytes per hour).
    pub fn with_budget(mut self, budget: Arc<dyn ByteBudget>) -> Self {
        self.meter = Arc::new(Meter::new(self.meter.bounds(), Some(budget)));
        self
    }

    /// The counters so far.
    pub fn stats(&self) -> EgressStats {
        self.meter.stats()
    }

    /// Serves one client connection: every request on it in turn, then the tunnel a
    /// `CONNECT` opened, if any, all within the run's time bound. Never panics and never
    /// returns an error: failures become answers to the client or a closed connection.
    pub async fn serve<S>(&self, client: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let max = self.meter.bounds().max_duration;
        let deadline = *self.deadline.get_or_init(|| Instant::now() + max);
        if timeout_at(deadline, self.serve_inner(client))
            .await
            .is_err()
        {
            tracing::debug!("egress connection cut at the run's time limit");
        }
    }

    async fn serve_inner<S>(&self, client: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let tunnel: Tunnel = Mutex::new(None);
        let service = hyper::service::service_fn(|req| self.handle(req, &tunnel));
        let served = server()
            .serve_connection(TokioIo::new(client), service)
            .with_upgrades()
            .await;
        if let Err(e) = served {
            tracing::debug!(error = %e, "egress connection ended");
        }
        let opened = tunnel.lock().ok().and_then(|mut t| t.take());
        if let Some((on_upgrade, upstream)) = opened {
            match on_upgrade.await {
                Ok(upgraded) => self.relay(TokioIo::new(upgraded), upstream).await,
                Err(e) => tracing::debug!(error = %e, "egress tunnel not established"),
            }
        }
    }

    /// One request: counted, its target read, then tunnelled or forwarded. An `Err` (the
    /// meter refused the head's bytes) cuts the connection.
    async fn handle(
        &self,
        req: Request<Incoming>,
        tunnel: &Tunnel,
    ) -> Result<Response<ProxyBody>, Cut> {
        if !self.meter.request() {
            self.meter.deny();
            let msg = format!(
                "the run's limit of {} egress requests was reached",
                self.meter.bounds().max_requests
            );
            return Ok(answer(StatusCode::TOO_MANY_REQUESTS, &msg));
        }
        match head::target(req.method(), req.uri()) {
            Err(e) => {
                self.meter.deny();
                Ok(answer(StatusCode::BAD_REQUEST, &e.to_string()))
            }
            Ok(Target::Connect { host, port }) => Ok(self.connect(req, &host, port, tunnel).await),
            Ok(Target::Forward {
                host,
                port,
                authority,
                origin,
            }) => self.forward(req, &host, port, &authority, origin).await,
        }
    }

    /// `CONNECT`: checks the port and the target, answers `200` and leaves the upstream for
    /// [`RunProxy::relay`] once the connection is handed over.
    async fn connect(
        &self,
        mut req: Request<Incoming>,
        host: &str,
        port: u16,
        tunnel: &Tunnel,
    ) -> Response<ProxyBody> {
        if !self.connect_ports.contains(&port) {
            let ports = self
                .connect_ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let why = format!("CONNECT may reach port(s) {ports} only, not {port}");
            return self.refused(host, port, Refused::Policy(Refusal(why)));
        }
        let upstream = match self.open(host, port).await {
            Ok(u) => u,
            Err(r) => return self.refused(host, port, r),
        };
        let Ok(mut slot) = tunnel.lock() else {
            return answer(StatusCode::INTERNAL_SERVER_ERROR, "tunnel state lost");
        };
        *slot = Some((hyper::upgrade::on(&mut req), upstream));
        let mut res = Response::new(Empty::new().map_err(|e| match e {}).boxed_unsync());
        res.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(
                b"Connection established",
            ));
        res
    }

    /// An absolute-form request: checks the target, sends the rewritten request on a new
    /// upstream connection and streams the answer back, metering both bodies.
    async fn forward(
        &self,
        req: Request<Incoming>,
        host: &str,
        port: u16,
        authority: &str,
        origin: hyper::Uri,
    ) -> Result<Response<ProxyBody>, Cut> {
        if let Some(ports) = &self.read_only_ports {
            let reads = matches!(*req.method(), Method::GET | Method::HEAD);
            if !reads || !ports.contains(&port) {
                let why = format!("only GET and HEAD to port(s) {ports:?} are allowed here");
                return Ok(self.refused(host, port, Refused::Policy(Refusal(why))));
            }
        }
        let (mut parts, body) = req.into_parts();
        if let Err(e) = head::rewrite_request(&mut parts, authority, origin) {
            self.meter.deny();
            return Ok(answer(StatusCode::BAD_REQUEST, &e.to_string()));
        }
        let upstream = match self.open(host, port).await {
            Ok(u) => u,
            Err(r) => return Ok(self.refused(host, port, r)),
        };
        self.meter.spend(head::request_head_len(&parts)).await?;
        let is_head = parts.method == Method::HEAD;
        let request = Request::from_parts(parts, Metered::new(body, self.meter.clone()));
        let Some((res, conn)) = exchange(upstream, request).await else {
            return Ok(answer(
                StatusCode::BAD_GATEWAY,
                &format!("no answer from {host}:{port}"),
            ));
        };
        let (mut parts, body) = res.into_parts();
        head::rewrite_response(&mut parts, is_head);
        self.meter.spend(head::response_head_len(&parts)).await?;
        let body = Metered::new(Driven::new(body, conn), self.meter.clone());
        Ok(Response::from_parts(parts, body.boxed_unsync()))
    }

    /// A refusal (`403`, counted as denied) or an upstream failure (`502`).
    fn refused(&self, host: &str, port: u16, why: Refused) -> Response<ProxyBody> {
        match why {
            Refused::Policy(r) => {
                self.meter.deny();
                tracing::debug!(egress.host = %host, egress.port = port, reason = %r, "egress refused");
                answer(StatusCode::FORBIDDEN, &r.0)
            }
            Refused::Upstream(msg) => answer(StatusCode::BAD_GATEWAY, &msg),
        }
    }

    /// Resolves, checks every address, connects to the first allowed one that answers.
    async fn open(&self, host: &str, port: u16) -> Result<TcpStream, Refused> {
        self.policy.check_name(host).map_err(Refused::Policy)?;
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                self.policy
                    .check_before_resolving(host, self.narrow.as_deref())
                    .map_err(Refused::Policy)?;
                // getaddrinfo runs on tokio's blocking pool: bound how many lookups all
                // runs together may have in flight, so no run can exhaust it.
                let lookup = async {
                    let _permit = LOOKUPS.acquire().await;
                    tokio::net::lookup_host((host, port)).await
                };
                match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
                    Ok(Ok(a)) => a.collect(),
                    _ => return Err(Refused::Upstream(format!("cannot resolve {host}"))),
                }
            }
        };
        let mut allowed = Vec::new();
        let mut first_refusal = None;
        for addr in addrs {
            match self.policy.check(host, addr, self.narrow.as_deref()) {
                Ok(()) => allowed.push(addr),
                Err(r) => {
                    first_refusal.get_or_insert(r);
                }
            }
        }
        if allowed.is_empty() {
            return Err(Refused::Policy(
                first_refusal.unwrap_or_else(|| Refusal(format!("{host} has no addresses"))),
            ));
        }
        if !self.meter.connection() {
            return Err(Refused::Policy(Refusal(format!(
                "the run's limit of {} egress connections was reached",
                self.meter.bounds().max_connections
            ))));
        }
        for addr in allowed {
            if let Ok(Ok(s)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await
            {
                return Ok(s);
            }
        }
        Err(Refused::Upstream(format!(
            "cannot connect to {host}:{port}"
        )))
    }

    /// A byte tunnel in both directions until both sides are done or a bound cuts it.
    async fn relay<S>(&self, client: S, mut upstream: TcpStream)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let (mut up_r, mut up_w) = upstream.split();
        let (mut cl_r, mut cl_w) = tokio::io::split(client);
        let up = async {
            let r = self.pump(&mut cl_r, &mut up_w).await;
            let _ = up_w.shutdown().await;
            r
        };
        let down = async {
            let r = self.pump(&mut up_r, &mut cl_w).await;
            let _ = cl_w.shutdown().await;
            r
        };
        // A cut in either direction ends both.
        let _ = tokio::try_join!(up, down);
    }

    /// Copies `r` to `w` until EOF, spending every byte on the meter.
    async fn pump<R, W>(&self, r: &mut R, w: &mut W) -> Result<(), PumpEnd>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = r.read(&mut buf).await.map_err(|_| PumpEnd)?;
            if n == 0 {
                break;
            }
            if let Err(cut) = self.meter.spend(n as u64).await {
                tracing::debug!(reason = %cut, "egress connection cut");
                return Err(PumpEnd);
            }
            w.write_all(&buf[..n]).await.map_err(|_| PumpEnd)?;
        }
        let _ = w.flush().await;
        Ok(())
    }
}

/// The client side: `hyper`, HTTP/1.1 only, heads bounded, a request head due within
/// [`HEAD_TIMEOUT`] (also the longest idle time between requests), answers with
/// title-case header names and no added `Date`, written out at least every 64 KiB.
fn server() -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD_BYTES)
        // Written data is flushed at least every 64 KiB: a body cut at the run's byte bound
        // still delivers the head and what was spent before the cut.
        .max_buf_size(64 * 1024)
        .title_case_headers(true)
        .auto_date_header(false)
        .half_close(true);
    b
}

/// The upstream connection of a forwarded request.
type Upstream = hyper::client::conn::http1::Connection<TokioIo<TcpStream>, Metered<Incoming>>;

/// Sends `request` on `upstream` and waits for the response head, driving the connection
/// meanwhile; returns the response and the connection (`None` once it ended) that must keep
/// being polled while the response body is read. `None` when no response came.
async fn exchange(
    upstream: TcpStream,
    request: Request<Metered<Incoming>>,
) -> Option<(Response<Incoming>, Option<std::pin::Pin<Box<Upstream>>>)> {
    let mut client = hyper::client::conn::http1::Builder::new();
    client
        .title_case_headers(true)
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD_BYTES);
    let (mut sender, conn) = match client.handshake(TokioIo::new(upstream)).await {
        Ok(h) => h,
        Err(e) => {
            tracing::debug!(error = %e, "egress upstream handshake failed");
            return None;
        }
    };
    let sent = sender.send_request(request);
    tokio::pin!(sent);
    let mut conn = Box::pin(conn);
    let (res, conn) = tokio::select! {
        biased;
        res = &mut sent => (res, Some(conn)),
        // The connection ended first: the answer, if one came, is already on its way.
        _ = conn.as_mut() => ((&mut sent).await, None),
    };
    match res {
        Ok(res) => Some((res, conn)),
        Err(e) => {
            tracing::debug!(error = %e, "egress upstream exchange failed");
            None
        }
    }
}

/// A plain-text answer from the proxy itself, which ends the client connection.
fn answer(status: StatusCode, body: &str) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(format!("{body}\n")))
        .map_err(|e| match e {})
        .boxed_unsync();
    let mut res = Response::new(body);
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert("x-pyth-on-egress", HeaderValue::from_static("refused"));
    res
}

/// A direction ended early (error or a bound); the other direction is ended too.
#[derive(Debug)]
struct PumpEnd;

/// Why `open` gave no upstream.
#[derive(Debug)]
enum Refused {
    /// The policy or a bound said no: 403.
    Policy(Refusal),
    /// Resolution or connection failed: 502.
    Upstream(String),
}
