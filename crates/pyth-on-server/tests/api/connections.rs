//! Hardened connections: caps on open connections overall and per address (past them a new
//! connection is closed at once, established ones keep working), the request head, body and
//! keep-alive timeouts. Attackers connect from other loopback addresses (127.0.0.2, ...) so the
//! typed client on 127.0.0.1 plays the bystander.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout, Instant};

use crate::support::TestServer;

/// How long a shed or timed-out connection may take to be seen closed.
const SLACK: Duration = Duration::from_millis(1500);

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A TCP connection to `server` from the local address `from`.
async fn connect_from(from: IpAddr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(server).await.unwrap()
}

/// `n` connections from `from` that send nothing.
async fn idle_connections(n: usize, from: IpAddr, server: SocketAddr) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        streams.push(connect_from(from, server).await);
    }
    streams
}

/// Whether the server closes `stream` (EOF or reset, after whatever it sent) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let drain = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    timeout(within, drain).await.is_ok()
}

/// How many of `streams` are closed by the server within `within` (waited for together).
async fn count_closed(streams: &mut [TcpStream], within: Duration) -> usize {
    let checks = streams.iter_mut().map(|s| closed_within(s, within));
    futures::future::join_all(checks)
        .await
        .into_iter()
        .filter(|closed| *closed)
        .count()
}

/// Sends `GET path` on a keep-alive connection and returns the status of the answer, having
/// read all of it.
async fn get_keep_alive(stream: &mut TcpStream, path: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let (status, _) = read_response(stream).await;
    status
}

/// Reads one response with a `content-length` body: (status, body).
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while data.len() < head_end + length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed in the middle of a response");
        data.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&data[head_end..head_end + length]).into_owned();
    (status, body)
}

#[tokio::test]
async fn idle_connections_past_the_per_address_cap_are_closed_and_health_still_answers() {
    const CAP: usize = 20;
    let server = TestServer::start_with(|s| {
        s.connections.max_connections_per_address = CAP as u32;
    })
    .await;
    let mut attack = idle_connections(CAP + 50, loopback(2), server.addr).await;

    let started = Instant::now();
    let health = timeout(Duration::from_secs(2), server.client.health()).await;
    assert!(
        matches!(health, Ok(Ok(_))),
        "health from another address: {health:?}"
    );
    let health_took = started.elapsed();

    let (admitted, past_cap) = attack.split_at_mut(CAP);
    assert_eq!(
        count_closed(past_cap, SLACK).await,
        50,
        "every connection past the cap is closed"
    );
    assert_eq!(
        count_closed(admitted, Duration::from_millis(300)).await,
        0,
        "the first {CAP} stay open"
    );
    eprintln!(
        "health with {} idle connections: {health_took:?}",
        attack.len()
    );
}

#[tokio::test]
async fn past_the_overall_cap_new_connections_are_shed_while_an_established_one_keeps_working() {
    const CAP: usize = 24;
    let server = TestServer::start_with(|s| {
        s.connections.max_connections = CAP as u32;
    })
    .await;
    let mut established = connect_from(loopback(1), server.addr).await;
    assert_eq!(get_keep_alive(&mut established, "/api/health").await, 200);

    // From several addresses, so no per-address cap is involved.
    let mut filler = Vec::new();
    for i in 0..CAP + 10 {
        filler.push(connect_from(loopback(10 + (i % 5) as u8), server.addr).await);
    }
    // The established one and at most one pooled connection of the typed client hold places.
    let (admitted, rest) = filler.split_at_mut(CAP - 2);
    assert_eq!(
        count_closed(&mut rest[2..], SLACK).await,
        10,
        "shed past the cap"
    );
    assert_eq!(
        count_closed(admitted, Duration::from_millis(300)).await,
        0,
        "admitted ones stay open"
    );
    let mut newcomer = connect_from(loopback(99), server.addr).await;
    assert!(
        closed_within(&mut newcomer, SLACK).await,
        "a fresh address is shed too"
    );

    assert_eq!(get_keep_alive(&mut established, "/api/health").await, 200);
    drop(filler);
}

#[tokio::test]
async fn a_shed_connection_is_told_503_too_many_connections() {
    let server = TestServer::start_with(|s| {
        s.connections.max_connections_per_address = 1;
    })
    .await;
    let _held = connect_from(loopback(3), server.addr).await;
    let mut shed = connect_from(loopback(3), server.addr).await;
    let (status, body) = timeout(SLACK, read_response(&mut shed)).await.unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("too_many_connections"), "{body}");
}

#[tokio::test]
async fn a_client_trickling_its_request_head_is_disconnected_at_the_head_timeout() {
    let server = TestServer::start_with(|s| {
        s.connections.head_timeout_secs = 1;
    })
    .await;
    let stream = connect_from(loopback(4), server.addr).await;
    let started = Instant::now();
    let (mut read, mut write) = stream.into_split();
    write
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let closed = async {
        let mut buf = [0u8; 1024];
        while let Ok(n) = read.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
        true
    };
    let trickle = async {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if write.write_all(b"a").await.is_err() {
                return true;
            }
        }
        false
    };
    let disconnected = tokio::select! {
        closed = closed => closed,
        failed = trickle => failed,
    };
    let took = started.elapsed();
    assert!(disconnected, "still connected after 20 s of trickling");
    assert!(
        took < Duration::from_secs(1) + SLACK,
        "disconnected only after {took:?}"
    );
}

#[tokio::test]
async fn a_request_body_that_stalls_gets_408_at_the_body_timeout() {
    let server = TestServer::start_with(|s| {
        s.connections.body_timeout_secs = 1;
    })
    .await;
    let mut stream = connect_from(loopback(5), server.addr).await;
    let started = Instant::now();
    stream
        .write_all(
            b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"email\":",
        )
        .await
        .unwrap();
    let answer = timeout(Duration::from_secs(1) + SLACK, read_response(&mut stream)).await;
    let (status, body) = answer.expect("an answer within the body timeout");
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("request_timeout"), "{body}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(
        closed_within(&mut stream, SLACK).await,
        "closed after the 408"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let server = TestServer::start_with(|s| {
        s.connections.head_timeout_secs = 1;
        s.connections.keep_alive_secs = 3;
    })
    .await;
    let mut stream = connect_from(loopback(6), server.addr).await;
    assert_eq!(get_keep_alive(&mut stream, "/api/health").await, 200);
    // Past the head timeout an idle connection is still open: idle is not a slow head.
    assert!(
        !closed_within(&mut stream, Duration::from_millis(2000)).await,
        "closed before the keep-alive timeout"
    );
    assert_eq!(get_keep_alive(&mut stream, "/api/health").await, 200);
    let idle_since = Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_secs(3) + SLACK).await,
        "still open after the keep-alive timeout"
    );
    assert!(idle_since.elapsed() >= Duration::from_millis(2900));
}
