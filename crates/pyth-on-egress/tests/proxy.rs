//! The proxy against real local servers (loopback only, nothing leaves the machine), reached
//! the way a sandbox reaches it: through the run's Unix socket.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyth_on_egress::{Bounds, Policy, RunListener, RunProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

fn proxy_for(dir: &Path, exempt: &[SocketAddr], bounds: Bounds) -> RunListener {
    let exempt = exempt
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let policy = Policy::parse("", "", &exempt).expect("valid policy");
    RunListener::bind(dir, "run", RunProxy::new(Arc::new(policy), bounds)).expect("bind socket")
}

/// Sends `request` through the proxy and reads until the proxy closes.
async fn exchange(listener: &RunListener, request: &str) -> String {
    let mut s = UnixStream::connect(listener.path()).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn get(url: &str) -> String {
    format!("GET {url} HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\n\r\n")
}

#[tokio::test]
async fn an_exempt_loopback_server_is_reachable_and_the_answer_ends_the_connection() {
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
    let l = proxy_for(dir.path(), &[exempt], Bounds::default());
    let port = other.port();
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
