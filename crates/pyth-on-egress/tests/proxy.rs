//! The proxy against real local servers (loopback only, nothing leaves the machine), reached
//! the way a sandbox reaches it: through the run's Unix socket.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyth_on_egress::{Bounds, Policy, RunListener, RunProxy};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};

/// A tiny HTTP server: `/redirect` answers 302 to `location`, anything else 200 `body`.
async fn http_server(body: &'static str, location: Option<String>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let location = location.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&got).to_string();
                let reply = match (&location, text.starts_with("GET /redirect")) {
                    (Some(loc), true) => format!(
                        "HTTP/1.1 302 Found\r\nLocation: {loc}\r\nContent-Length: 0\r\n\r\n"
                    ),
                    _ => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
                        body.len()
                    ),
                };
                let _ = s.write_all(reply.as_bytes()).await;
                // Keep the connection open, as a keep-alive server would.
                let _ = s.read(&mut buf).await;
            });
        }
    });
    addr
}

/// A TCP echo server.
async fn echo_server() -> SocketAddr {
    counted_echo_server().await.0
}

/// A TCP echo server that counts the connections it accepted.
async fn counted_echo_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    (addr, accepted)
}

/// What a recording server received: its connections, every byte read on them, and the
/// requests it parsed (head, decoded body).
#[derive(Debug, Default)]
struct Seen {
    connections: usize,
    raw: Vec<u8>,
    requests: Vec<(String, Vec<u8>)>,
}

impl Seen {
    fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

/// An HTTP/1.1 reader over a byte stream, logging what it reads into `log` when set.
struct Wire<R> {
    r: R,
    buf: Vec<u8>,
    log: Option<Arc<Mutex<Seen>>>,
}

impl<R: AsyncRead + Unpin> Wire<R> {
    fn new(r: R, log: Option<Arc<Mutex<Seen>>>) -> Self {
        Self {
            r,
            buf: Vec::new(),
            log,
        }
    }

    async fn fill(&mut self) -> Option<()> {
        let mut chunk = [0u8; 8192];
        let n = self.r.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        if let Some(log) = &self.log {
            log.lock().expect("lock").raw.extend_from_slice(&chunk[..n]);
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Some(())
    }

    /// Everything up to and including `pat`.
    async fn until(&mut self, pat: &[u8]) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.windows(pat.len()).position(|w| w == pat) {
                return Some(self.buf.drain(..i + pat.len()).collect());
            }
            self.fill().await?;
        }
    }

    async fn take(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Some(self.buf.drain(..n).collect())
    }

    async fn chunked(&mut self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = String::from_utf8(self.until(b"\r\n").await?).ok()?;
            let size = line.trim_end().split(';').next()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            if size == 0 {
                // Trailers (none here) and the blank line.
                while self.until(b"\r\n").await?.len() > 2 {}
                return Some(body);
            }
            body.extend(self.take(size).await?);
            self.take(2).await?;
        }
    }

    /// One message: its head and its body, framed by `Content-Length` or chunks (an answer
    /// to `HEAD` or without either has none).
    async fn message(&mut self) -> Option<(String, Vec<u8>)> {
        let head = String::from_utf8(self.until(b"\r\n\r\n").await?).ok()?;
        let lower = head.to_ascii_lowercase();
        let length = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        let body = if lower.contains("\r\ntransfer-encoding: chunked\r\n") {
            self.chunked().await?
        } else {
            self.take(length.unwrap_or(0)).await?
        };
        Some((head, body))
    }
}

/// An HTTP/1.1 server that records everything it receives and answers every request on a
/// connection (`200`, its path then `:` then the request body it decoded) until the
/// connection ends.
async fn recording_server() -> (SocketAddr, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            log.lock().expect("lock").connections += 1;
            let log = log.clone();
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut wire = Wire::new(r, Some(log.clone()));
                while let Some((head, body)) = wire.message().await {
                    let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                    let reply = [path.as_bytes(), b":", &body].concat();
                    log.lock().expect("lock").requests.push((head, body));
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
                        reply.len()
                    );
                    if w.write_all(&[answer.as_bytes(), &reply].concat())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// The status line of every answer in `text` (a whole client connection's worth).
fn status_lines(text: &str) -> Vec<&str> {
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text[i..].split("\r\n").next())
        .collect()
}

fn proxy_for(dir: &Path, exempt: &[SocketAddr], bounds: Bounds) -> RunListener {
    let ports = exempt.iter().map(SocketAddr::port).collect();
    proxy_with(dir, "", exempt, bounds, ports)
}

/// A proxy with an `ALLOW` list, `EXEMPT` pairs and the ports `CONNECT` may reach.
fn proxy_with(
    dir: &Path,
    allow: &str,
    exempt: &[SocketAddr],
    bounds: Bounds,
    connect_ports: Vec<u16>,
) -> RunListener {
    let exempt = exempt
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let policy = Policy::parse(allow, "", &exempt).expect("valid policy");
    let proxy = RunProxy::new(Arc::new(policy), bounds).with_connect_ports(connect_ports);
    RunListener::bind(dir, "run", proxy).expect("bind socket")
}

/// Sends `request` through the proxy and reads until the proxy closes.
async fn exchange(listener: &RunListener, request: &str) -> String {
    let mut s = UnixStream::connect(listener.path()).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A request that asks the proxy to end the connection after its answer.
fn get(url: &str) -> String {
    format!("GET {url} HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn an_exempt_loopback_server_is_reachable_and_its_hop_headers_do_not_come_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exempt = http_server("hello from exempt", None).await;
    let l = proxy_for(dir.path(), &[exempt], Bounds::default());
    let answer = exchange(&l, &get(&format!("http://{exempt}/x"))).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.contains("Connection: close"), "{answer}");
    assert!(!answer.contains("keep-alive"), "{answer}");
    assert!(answer.ends_with("hello from exempt"), "{answer}");
    let stats = l.finish().await;
    assert_eq!((stats.requests, stats.denied), (1, 0));
    assert!(stats.bytes > 17, "{stats:?}");
}

#[tokio::test]
async fn other_loopback_ports_metadata_and_names_resolving_to_loopback_get_a_403() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exempt = http_server("exempt", None).await;
    let other = http_server("must not be seen", None).await;
    let port = other.port();
    // CONNECT may reach these ports: the policy, not the port rule, must refuse here.
    let l = proxy_with(
        dir.path(),
        "",
        &[exempt],
        Bounds::default(),
        vec![port, 443],
    );
    for (request, reason) in [
        (get(&format!("http://{other}/")), "loopback"),
        (get(&format!("http://localhost:{port}/")), "resolves to"),
        (
            get("http://169.254.169.254/latest/meta-data/"),
            "link-local",
        ),
        (get("http://[::ffff:169.254.169.254]/"), "link-local"),
        (
            format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n"),
            "loopback",
        ),
        (
            format!("CONNECT localhost:{port} HTTP/1.1\r\n\r\n"),
            "resolves to",
        ),
        (
            "CONNECT 10.1.2.3:443 HTTP/1.1\r\n\r\n".to_string(),
            "private",
        ),
    ] {
        let answer = exchange(&l, &request).await;
        assert!(
            answer.starts_with("HTTP/1.1 403 Forbidden"),
            "{request}: {answer}"
        );
        assert!(answer.contains(reason), "{request}: {answer}");
        assert!(!answer.contains("must not be seen"));
    }
    let stats = l.finish().await;
    assert_eq!((stats.requests, stats.denied, stats.bytes), (7, 7, 0));
}

#[tokio::test]
async fn a_redirect_passes_through_and_following_it_to_a_denied_address_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let denied = http_server("secret", None).await;
    let exempt = http_server("x", Some(format!("http://{denied}/"))).await;
    let l = proxy_for(dir.path(), &[exempt], Bounds::default());
    let first = exchange(&l, &get(&format!("http://{exempt}/redirect"))).await;
    assert!(first.starts_with("HTTP/1.1 302"), "{first}");
    assert!(
        first.contains(&format!("Location: http://{denied}/")),
        "{first}"
    );
    let second = exchange(&l, &get(&format!("http://{denied}/"))).await;
    assert!(second.starts_with("HTTP/1.1 403"), "{second}");
}

#[tokio::test]
async fn a_connect_tunnel_reaches_an_exempt_echo_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let echo = echo_server().await;
    let l = proxy_for(dir.path(), &[echo], Bounds::default());
    let mut s = UnixStream::connect(l.path()).await.expect("connect");
    s.write_all(format!("CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n\r\nearly ").as_bytes())
        .await
        .expect("write");
    let mut buf = vec![0u8; 64];
    let mut got = Vec::new();
    while !got.ends_with(b"early ") {
        let n = s.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let got = String::from_utf8_lossy(&got).to_string();
    assert_eq!(got, "HTTP/1.1 200 Connection established\r\n\r\nearly ");
    s.write_all(b"ping").await.expect("write");
    let mut pong = [0u8; 4];
    s.read_exact(&mut pong).await.expect("echo");
    assert_eq!(&pong, b"ping");
    drop(s);
    let stats = l.finish().await;
    assert_eq!(stats.bytes, 2 * 10, "{stats:?}");
}

#[tokio::test]
async fn a_flood_is_cut_at_the_byte_bound_and_the_connection_bound_refuses_more() {
    let dir = tempfile::tempdir().expect("tempdir");
    let echo = echo_server().await;
    let bounds = Bounds {
        max_connections: 1,
        max_bytes: 100_000,
        ..Bounds::default()
    };
    let l = proxy_for(dir.path(), &[echo], bounds);
    let mut s = UnixStream::connect(l.path()).await.expect("connect");
    s.write_all(format!("CONNECT {echo} HTTP/1.1\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let (mut r, mut w) = s.into_split();
    let flood = tokio::spawn(async move {
        let chunk = vec![b'x'; 8192];
        let mut sent = 0u64;
        while w.write_all(&chunk).await.is_ok() && sent < 10_000_000 {
            sent += chunk.len() as u64;
        }
        sent
    });
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), r.read_to_end(&mut received)).await;
    let sent = flood.await.expect("flood task");
    assert!(sent < 10_000_000, "the flood was never cut");
    assert!(
        received.len() < 200_000,
        "{} bytes came back",
        received.len()
    );
    let again = exchange(&l, &format!("CONNECT {echo} HTTP/1.1\r\n\r\n")).await;
    assert!(again.starts_with("HTTP/1.1 403"), "{again}");
    assert!(again.contains("limit of 1 egress connections"), "{again}");
    let stats = l.finish().await;
    assert!(stats.bytes <= 100_000, "{stats:?}");
    assert_eq!(stats.denied, 1);
}

#[tokio::test]
async fn an_open_tunnel_is_cut_at_the_runs_time_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let echo = echo_server().await;
    let bounds = Bounds {
        max_duration: Duration::from_millis(500),
        ..Bounds::default()
    };
    let l = proxy_for(dir.path(), &[echo], bounds);
    let mut s = UnixStream::connect(l.path()).await.expect("connect");
    s.write_all(format!("CONNECT {echo} HTTP/1.1\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let started = Instant::now();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the tunnel stayed open");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn finishing_a_run_removes_its_socket_and_refuses_new_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = proxy_for(dir.path(), &[], Bounds::default());
    let path = l.path().to_owned();
    assert!(path.exists());
    l.finish().await;
    assert!(!path.exists());
    assert!(UnixStream::connect(&path).await.is_err());
}

#[tokio::test]
async fn refused_requests_count_against_the_runs_request_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bounds = Bounds {
        max_requests: 3,
        ..Bounds::default()
    };
    let l = proxy_for(dir.path(), &[], bounds);
    for _ in 0..3 {
        // Loopback, not exempt: refused, but it still costs the run a request.
        let refused = exchange(&l, "CONNECT 127.0.0.1:9 HTTP/1.1\r\n\r\n").await;
        assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    }
    let over = exchange(&l, "CONNECT 127.0.0.1:9 HTTP/1.1\r\n\r\n").await;
    assert!(over.starts_with("HTTP/1.1 429"), "{over}");
    assert!(over.contains("limit of 3 egress requests"), "{over}");
    let stats = l.finish().await;
    assert_eq!((stats.requests, stats.denied), (4, 4), "{stats:?}");
}

#[tokio::test]
async fn origin_form_and_https_urls_get_a_400() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = proxy_for(dir.path(), &[], Bounds::default());
    for request in [
        "GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "GET https://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
    ] {
        let answer = exchange(&l, request).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{request}: {answer}");
        assert!(answer.contains("absolute http:// URL"), "{answer}");
    }
    let stats = l.finish().await;
    assert_eq!((stats.requests, stats.denied), (2, 2), "{stats:?}");
}

#[tokio::test]
async fn a_pipelined_request_to_a_host_off_the_allow_list_is_refused_and_never_forwarded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (allowed, seen) = recording_server().await;
    let l = proxy_with(
        dir.path(),
        "127.0.0.1",
        &[allowed],
        Bounds::default(),
        vec![443],
    );
    // Both in one write: the second rides the connection the first opened, naming the
    // allowed server in its Host header.
    let both = format!(
        "GET http://{allowed}/first HTTP/1.1\r\nHost: {allowed}\r\n\r\n\
         GET http://denied.example/second HTTP/1.1\r\nHost: {allowed}\r\n\r\n"
    );
    let answer = exchange(&l, &both).await;
    assert_eq!(
        status_lines(&answer),
        ["HTTP/1.1 200 OK", "HTTP/1.1 403 Forbidden"],
        "{answer}"
    );
    assert!(answer.contains("/first:"), "{answer}");
    assert!(
        answer.contains("denied.example is not on the server's allow-list"),
        "{answer}"
    );
    assert!(answer.contains("X-Pyth-On-Egress: refused"), "{answer}");
    let stats = l.finish().await;
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.requests.len(), 1, "{seen:?}");
    assert!(seen.requests[0].0.starts_with("GET /first HTTP/1.1\r\n"));
    assert!(!seen.raw_text().contains("second"), "{}", seen.raw_text());
    assert_eq!((stats.requests, stats.denied), (2, 1), "{stats:?}");
}

#[tokio::test]
async fn a_kept_alive_connection_gets_every_request_answered_and_forwarded_with_the_checked_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (allowed, seen) = recording_server().await;
    let l = proxy_for(dir.path(), &[allowed], Bounds::default());
    let s = UnixStream::connect(l.path()).await.expect("connect");
    let (r, mut w) = s.into_split();
    let mut wire = Wire::new(r, None);
    for (path, last) in [("/one", false), ("/two", true)] {
        let close = if last { "Connection: close\r\n" } else { "" };
        let request = format!(
            "GET http://{allowed}{path} HTTP/1.1\r\nHost: evil.example\r\n\
             Proxy-Connection: keep-alive\r\n{close}\r\n"
        );
        w.write_all(request.as_bytes()).await.expect("write");
        let (head, body) = tokio::time::timeout(Duration::from_secs(10), wire.message())
            .await
            .expect("answered in time")
            .expect("an answer");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(body, format!("{path}:").as_bytes());
    }
    let rest = tokio::time::timeout(Duration::from_secs(10), wire.message()).await;
    assert!(matches!(rest, Ok(None)), "the connection stayed open");
    let stats = l.finish().await;
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.requests.len(), 2, "{seen:?}");
    assert_eq!(seen.connections, 2, "one upstream connection per request");
    for (head, _) in &seen.requests {
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.contains(&format!("\r\nhost: {allowed}\r\n")),
            "{head}"
        );
        assert!(!lower.contains("evil.example"), "{head}");
        assert!(!lower.contains("proxy-connection"), "{head}");
    }
    assert_eq!((stats.requests, stats.denied), (2, 0), "{stats:?}");
}

#[tokio::test]
async fn connect_reaches_only_the_configured_ports_443_by_default() {
    let (echo, accepted) = counted_echo_server().await;
    let policy = Arc::new(Policy::parse("", "", &echo.to_string()).expect("valid policy"));
    let dir = tempfile::tempdir().expect("tempdir");
    let default = RunListener::bind(
        dir.path(),
        "default",
        RunProxy::new(policy.clone(), Bounds::default()),
    )
    .expect("bind socket");
    let refused = exchange(&default, &format!("CONNECT {echo} HTTP/1.1\r\n\r\n")).await;
    assert!(refused.starts_with("HTTP/1.1 403 Forbidden"), "{refused}");
    assert!(
        refused.contains(&format!("port(s) 443 only, not {}", echo.port())),
        "{refused}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
    let stats = default.finish().await;
    assert_eq!((stats.requests, stats.denied), (1, 1), "{stats:?}");

    let proxy = RunProxy::new(policy, Bounds::default()).with_connect_ports(vec![echo.port()]);
    let allowed = RunListener::bind(dir.path(), "allowed", proxy).expect("bind socket");
    let mut s = UnixStream::connect(allowed.path()).await.expect("connect");
    s.write_all(format!("CONNECT {echo} HTTP/1.1\r\n\r\nping").as_bytes())
        .await
        .expect("write");
    let expected = b"HTTP/1.1 200 Connection established\r\n\r\nping";
    let mut got = vec![0u8; expected.len()];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut got))
        .await
        .expect("answered in time")
        .expect("tunnelled");
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn chunked_and_content_length_request_bodies_are_forwarded_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (allowed, seen) = recording_server().await;
    let l = proxy_for(dir.path(), &[allowed], Bounds::default());
    let big: String = (0..200_000u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let requests = format!(
        "POST http://{allowed}/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n\
         POST http://{allowed}/length HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{big}",
        big.len()
    );
    let answer = exchange(&l, &requests).await;
    assert_eq!(
        status_lines(&answer),
        ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"],
        "{}",
        &answer[..answer.len().min(500)]
    );
    assert!(answer.contains("/chunked:hello, world"));
    assert!(answer.ends_with(&format!("/length:{big}")));
    let stats = l.finish().await;
    let seen = seen.lock().expect("lock");
    let bodies: Vec<&[u8]> = seen.requests.iter().map(|(_, b)| b.as_slice()).collect();
    assert_eq!(bodies, [&b"hello, world"[..], big.as_bytes()]);
    let heads: Vec<String> = seen
        .requests
        .iter()
        .map(|(h, _)| h.to_ascii_lowercase())
        .collect();
    assert!(
        heads[0].contains("\r\ntransfer-encoding: chunked\r\n"),
        "{heads:?}"
    );
    assert!(heads[1].contains(&format!("\r\ncontent-length: {}\r\n", big.len())));
    assert!(stats.bytes > 2 * 200_000, "{stats:?}");
}

#[tokio::test]
async fn a_request_after_another_ones_body_is_framed_and_checked_on_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (allowed, seen) = recording_server().await;
    let l = proxy_with(
        dir.path(),
        "127.0.0.1",
        &[allowed],
        Bounds::default(),
        vec![443],
    );
    let smuggled = format!(
        "POST http://{allowed}/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n\
         helloGET http://denied.example/ HTTP/1.1\r\nHost: {allowed}\r\n\r\n"
    );
    let answer = exchange(&l, &smuggled).await;
    assert_eq!(
        status_lines(&answer),
        ["HTTP/1.1 200 OK", "HTTP/1.1 403 Forbidden"],
        "{answer}"
    );
    assert!(answer.contains("/upload:hello"), "{answer}");
    let stats = l.finish().await;
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.requests.len(), 1, "{seen:?}");
    assert_eq!(seen.requests[0].1, b"hello");
    assert!(
        !seen.raw_text().contains("denied.example"),
        "{}",
        seen.raw_text()
    );
    assert_eq!((stats.requests, stats.denied), (2, 1), "{stats:?}");
}

#[tokio::test]
async fn a_body_framed_both_by_length_and_by_chunks_is_read_as_chunks_and_ends_the_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (allowed, seen) = recording_server().await;
    let l = proxy_for(dir.path(), &[allowed], Bounds::default());
    // By Content-Length the body would swallow the next request; by chunks it ends before it.
    let ambiguous = format!(
        "POST http://{allowed}/te HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
         GET http://{allowed}/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    let answer = exchange(&l, &ambiguous).await;
    assert_eq!(status_lines(&answer), ["HTTP/1.1 200 OK"], "{answer}");
    assert!(answer.contains("/te:hello"), "{answer}");
    let stats = l.finish().await;
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.requests.len(), 1, "{seen:?}");
    assert!(!seen.raw_text().contains("smuggled"), "{}", seen.raw_text());
    assert_eq!(stats.requests, 1, "{stats:?}");
}

#[tokio::test]
async fn a_forwarded_upload_is_cut_at_the_byte_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (allowed, seen) = recording_server().await;
    let bounds = Bounds {
        max_bytes: 50_000,
        ..Bounds::default()
    };
    let l = proxy_for(dir.path(), &[allowed], bounds);
    let body = "x".repeat(200_000);
    let upload = format!(
        "POST http://{allowed}/up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(&l, &upload).await;
    assert!(
        !answer.contains("200 OK"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    let stats = l.finish().await;
    assert!(stats.bytes <= 50_000, "{stats:?}");
    let seen = seen.lock().expect("lock");
    assert!(seen.requests.is_empty(), "the whole upload went through");
    assert!(
        seen.raw.len() <= 50_000,
        "{} bytes went upstream",
        seen.raw.len()
    );
}

#[tokio::test]
async fn a_head_answer_keeps_its_length_and_carries_no_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exempt = http_server("twelve bytes", None).await;
    let l = proxy_for(dir.path(), &[exempt], Bounds::default());
    let request = format!("HEAD http://{exempt}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let answer = exchange(&l, &request).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("Content-Length: 12\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "{answer}");
}

#[tokio::test]
async fn a_read_only_proxy_forwards_gets_to_its_ports_and_refuses_other_methods_and_ports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, seen) = recording_server().await;
    let other = http_server("other port", None).await;
    let exempt = format!("{server},{other}");
    let policy = Policy::parse("", "", &exempt).expect("valid policy");
    let proxy = RunProxy::new(Arc::new(policy), Bounds::default()).read_only(vec![server.port()]);
    let l = RunListener::bind(dir.path(), "run", proxy).expect("bind socket");
    let ok = exchange(&l, &get(&format!("http://{server}/simple/"))).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let post = format!(
        "POST http://{server}/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
    );
    let refused = exchange(&l, &post).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let elsewhere = exchange(&l, &get(&format!("http://{other}/x"))).await;
    assert!(elsewhere.starts_with("HTTP/1.1 403"), "{elsewhere}");
    let reached = seen.lock().expect("lock").requests.len();
    assert_eq!(reached, 1, "only the GET reached the server");
    let stats = l.finish().await;
    assert_eq!((stats.requests, stats.denied), (3, 2));
}
