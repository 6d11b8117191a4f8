//! The per-run proxy: one [`RunProxy`] per run that asked for the network, serving the
//! connections the sandbox relays to it. It speaks just enough HTTP/1.1: `CONNECT host:port`
//! (a byte tunnel, for TLS) and absolute-form `http://` requests (forwarded with
//! `Connection: close`, so every request is its own connection and its own policy check). It
//! resolves names itself, checks every resolved address ([`Policy::check`]) and connects only
//! to an address it checked. Refusals are `403` answers the program sees.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use crate::head::{self, Framing, HeadError, Target};
use crate::meter::{Bounds, ByteBudget, EgressStats, Meter};
use crate::policy::{HostPattern, Policy, Refusal};

/// Longest a client may take to send its request head.
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

/// The proxy of one run: the operator's policy, an optional narrowing allow-list, the run's
/// bounds and counters. Identity comes from whoever built it (the server), never from the
/// traffic.
#[derive(Debug)]
pub struct RunProxy {
    policy: Arc<Policy>,
    narrow: Option<Vec<HostPattern>>,
    meter: Meter,
    /// Set by the first connection: time spent queued for a sandbox does not count.
    deadline: OnceLock<Instant>,
}

impl RunProxy {
    /// A proxy for one run; its time bound starts with its first connection.
    pub fn new(policy: Arc<Policy>, bounds: Bounds) -> Self {
        Self {
            policy,
            narrow: None,
            meter: Meter::new(bounds, None),
            deadline: OnceLock::new(),
        }
    }

    /// Also requires hosts to match this list (a user's allow-list).
    pub fn with_narrowing(mut self, list: Vec<HostPattern>) -> Self {
        self.narrow = Some(list);
        self
    }

    /// Draws relayed bytes from a shared budget (the user's bytes per hour).
    pub fn with_budget(mut self, budget: Arc<dyn ByteBudget>) -> Self {
        self.meter = Meter::new(self.meter.bounds(), Some(budget));
        self
    }

    /// The counters so far.
    pub fn stats(&self) -> EgressStats {
        self.meter.stats()
    }

    /// Serves one client connection (one request, then the connection ends). Never panics and
    /// never returns an error: failures become answers to the client or a closed connection.
    pub async fn serve<S>(&self, mut client: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let max = self.meter.bounds().max_duration;
        let deadline = *self.deadline.get_or_init(|| Instant::now() + max);
        let outcome = timeout_at(deadline, self.serve_inner(&mut client)).await;
        if outcome.is_err() {
            tracing::debug!("egress connection cut at the run's time limit");
        }
        let _ = client.shutdown().await;
    }

    async fn serve_inner<S>(&self, client: &mut S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let head = tokio::time::timeout(HEAD_TIMEOUT, head::read_head(client)).await;
        let (head, rest) = match head {
            Ok(Ok(h)) => h,
            Ok(Err(HeadError::Closed)) | Err(_) => return,
            Ok(Err(e)) => {
                let _ = client
                    .write_all(&head::answer(400, "Bad Request", &e.to_string()))
                    .await;
                return;
            }
        };
        if !self.meter.request() {
            self.meter.deny();
            let msg = format!(
                "the run's limit of {} egress requests was reached",
                self.meter.bounds().max_requests
            );
            let _ = client
                .write_all(&head::answer(429, "Too Many Requests", &msg))
                .await;
            return;
        }
        let target = match head::parse_request(&head) {
            Ok(t) => t,
            Err(e) => {
                self.meter.deny();
                let _ = client
                    .write_all(&head::answer(400, "Bad Request", &e.to_string()))
                    .await;
                return;
            }
        };
        let (host, port) = match &target {
            Target::Connect { host, port } | Target::Forward { host, port, .. } => {
                (host.clone(), *port)
            }
        };
        let upstream = match self.open(&host, port).await {
            Ok(u) => u,
            Err(Refused::Policy(r)) => {
                self.meter.deny();
                tracing::debug!(egress.host = %host, egress.port = port, reason = %r, "egress refused");
                let _ = client
                    .write_all(&head::answer(403, "Forbidden", &r.0))
                    .await;
                return;
            }
            Err(Refused::Upstream(msg)) => {
                let _ = client
                    .write_all(&head::answer(502, "Bad Gateway", &msg))
                    .await;
                return;
            }
        };
        match target {
            Target::Connect { .. } => {
                let established = b"HTTP/1.1 200 Connection established\r\n\r\n";
                if client.write_all(established).await.is_err() {
                    return;
                }
                self.relay(client, upstream, rest).await;
            }
            Target::Forward { head, is_head, .. } => {
                self.forward(client, upstream, head, is_head, rest).await;
            }
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

    /// Sends the rewritten request, then rewrites the response head(s) and relays the body
    /// as far as its framing says (or until the upstream closes).
    async fn forward<S>(
        &self,
        client: &mut S,
        mut upstream: TcpStream,
        head: Vec<u8>,
        is_head: bool,
        rest: Vec<u8>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        if self.meter.spend(head.len() as u64).await.is_err()
            || upstream.write_all(&head).await.is_err()
        {
            return;
        }
        let (mut up_r, mut up_w) = upstream.split();
        let (mut cl_r, mut cl_w) = tokio::io::split(client);
        let to_upstream = async {
            let _ = self.pump(&rest, &mut cl_r, &mut up_w, None).await;
            let _ = up_w.shutdown().await;
        };
        let to_client = async {
            loop {
                let (res_head, body) = match head::read_head(&mut up_r).await {
                    Ok(h) => h,
                    Err(e) => {
                        let msg = format!("upstream: {e}");
                        let _ = cl_w
                            .write_all(&head::answer(502, "Bad Gateway", &msg))
                            .await;
                        return;
                    }
                };
                let Ok((rewritten, framing)) = head::rewrite_response(&res_head, is_head) else {
                    let msg = "malformed upstream response";
                    let _ = cl_w.write_all(&head::answer(502, "Bad Gateway", msg)).await;
                    return;
                };
                if self.meter.spend(res_head.len() as u64).await.is_err()
                    || cl_w.write_all(&rewritten).await.is_err()
                {
                    return;
                }
                let limit = match framing {
                    Framing::Interim if body.is_empty() => continue,
                    // Rare (data right after a 100 Continue): relay the rest as it comes.
                    Framing::Interim | Framing::UntilClose => None,
                    Framing::Empty => return,
                    Framing::Length(n) => Some(n),
                };
                let _ = self.pump(&body, &mut up_r, &mut cl_w, limit).await;
                return;
            }
        };
        // The response decides when the exchange is over; the request side may still be open.
        tokio::select! {
            () = to_client => {}
            () = async { to_upstream.await; std::future::pending::<()>().await } => {}
        }
    }

    /// A byte tunnel in both directions until both sides are done or a bound cuts it.
    async fn relay<S>(&self, client: &mut S, mut upstream: TcpStream, rest: Vec<u8>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let (mut up_r, mut up_w) = upstream.split();
        let (mut cl_r, mut cl_w) = tokio::io::split(client);
        let up = async {
            let r = self.pump(&rest, &mut cl_r, &mut up_w, None).await;
            let _ = up_w.shutdown().await;
            r
        };
        let down = async {
            let r = self.pump(&[], &mut up_r, &mut cl_w, None).await;
            let _ = cl_w.shutdown().await;
            r
        };
        // A cut in either direction ends both.
        let _ = tokio::try_join!(up, down);
    }

    /// Writes `first`, then copies `r` to `w` until EOF or `limit` bytes in all, spending
    /// every byte on the meter.
    async fn pump<R, W>(
        &self,
        first: &[u8],
        r: &mut R,
        w: &mut W,
        limit: Option<u64>,
    ) -> Result<(), PumpEnd>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut left = limit.unwrap_or(u64::MAX);
        let first = &first[..first.len().min(usize::try_from(left).unwrap_or(usize::MAX))];
        if !first.is_empty() {
            self.meter
                .spend(first.len() as u64)
                .await
                .map_err(|_| PumpEnd)?;
            w.write_all(first).await.map_err(|_| PumpEnd)?;
            left -= first.len() as u64;
        }
        let mut buf = vec![0u8; CHUNK];
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = r.read(&mut buf[..want]).await.map_err(|_| PumpEnd)?;
            if n == 0 {
                break;
            }
            if let Err(cut) = self.meter.spend(n as u64).await {
                tracing::debug!(reason = %cut, "egress connection cut");
                return Err(PumpEnd);
            }
            w.write_all(&buf[..n]).await.map_err(|_| PumpEnd)?;
            left -= n as u64;
        }
        let _ = w.flush().await;
        Ok(())
    }
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
