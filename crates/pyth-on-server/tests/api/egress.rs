//! Egress end to end: a real server with `PYTH_ON_EGRESS=true`, real runs, and local test
//! servers only (one exempt loopback HTTP service, one exempt echo service, one loopback
//! service that is not exempt). Nothing leaves the machine.

use std::net::SocketAddr;

use pyth_on_types::ExecuteRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{assert_api_error, TestServer};

/// An HTTP service: `/redirect` → 302 to `redirect_to`, `/big` → 1 MiB, else a greeting.
pub(crate) async fn http_service(redirect_to: Option<SocketAddr>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let (status, extra, body) = if head.starts_with("GET /redirect") {
                    let to = redirect_to.map(|a| a.to_string()).unwrap_or_default();
                    (
                        "302 Found",
                        format!("Location: http://{to}/\r\n"),
                        String::new(),
                    )
                } else if head.starts_with("GET /big") {
                    ("200 OK", String::new(), "x".repeat(1 << 20))
                } else {
                    (
                        "200 OK",
                        String::new(),
                        "hello from the exempt service".into(),
                    )
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

async fn echo_service() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
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

pub(crate) async fn egress_server(exempt: &[SocketAddr], max_bytes: Option<u64>) -> TestServer {
    egress_server_with(exempt, |s| {
        if let Some(b) = max_bytes {
            s.egress.max_bytes = b;
        }
    })
    .await
}

async fn egress_server_with(
    exempt: &[SocketAddr],
    tweak: impl FnOnce(&mut pyth_on_server::Settings),
) -> TestServer {
    // The exempt services are reached through CONNECT on their own ports too.
    let ports: Vec<u16> = exempt.iter().map(SocketAddr::port).collect();
    let exempt = exempt
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    TestServer::start_with(|s| {
        s.egress.mode = pyth_on_server::egress::EgressMode::On;
        s.egress.exempt = exempt;
        s.egress.connect_ports.extend(ports);
        s.egress.socket_dir = s.data_dir.join("egress");
        tweak(s);
    })
    .await
}

const PROBE: &str = r#"
import http.client, json, socket, sys, urllib.error, urllib.request
A, B, E, API = (int(a) for a in sys.argv[1:5])
def fetch(url):
    try:
        return urllib.request.urlopen(url, timeout=5).read().decode()
    except urllib.error.HTTPError as e:
        return [e.code, e.read().decode().strip()]
    except Exception as e:
        return type(e).__name__
out = {
    "exempt": fetch(f"http://127.0.0.1:{A}/x"),
    "api": fetch(f"http://127.0.0.1:{API}/api/info"),
    "other": fetch(f"http://127.0.0.1:{B}/"),
    "localhost": fetch(f"http://localhost:{B}/"),
    "metadata": fetch("http://169.254.169.254/latest/meta-data/"),
    "redirect": fetch(f"http://127.0.0.1:{A}/redirect"),
}
c = http.client.HTTPConnection("127.0.0.1", 3128, timeout=5)
c.set_tunnel("127.0.0.1", E)
c.connect()
c.sock.sendall(b"ping")
out["tunnel"] = c.sock.recv(4).decode()
c.close()
s = socket.socket(); s.settimeout(2)
try:
    s.connect(("127.0.0.1", A)); out["raw"] = "connected"
except OSError as e:
    out["raw"] = type(e).__name__
print(json.dumps(out))
"#;

#[tokio::test]
async fn a_run_with_network_reaches_only_the_exempt_services_and_sees_every_refusal() {
    // Arrange
    let other = http_service(None).await;
    let exempt = http_service(Some(other)).await;
    let echo = echo_service().await;
    let server = egress_server(&[exempt, echo], None).await;
    let user = server.user().await;
    assert!(server.client.info().await.unwrap().features.egress);

    // Act
    let args = [exempt.port(), other.port(), echo.port(), server.addr.port()];
    let run = user
        .key
        .execute(&ExecuteRequest {
            code: PROBE.into(),
            args: Some(args.iter().map(ToString::to_string).collect()),
            network: Some(true),
            timeout_ms: Some(30_000),
            ..Default::default()
        })
        .await
        .unwrap();

    // Assert
    assert_eq!(run.exit_code, 0, "{}", run.error);
    let out: serde_json::Value = serde_json::from_str(run.output.trim()).unwrap();
    assert_eq!(out["exempt"], "hello from the exempt service");
    for key in ["api", "other", "localhost", "metadata", "redirect"] {
        assert_eq!(out[key][0], 403, "{key}: {out}");
    }
    assert!(
        out["api"][1]
            .as_str()
            .unwrap()
            .contains("this server's API"),
        "{out}"
    );
    assert!(out["localhost"][1]
        .as_str()
        .unwrap()
        .contains("resolves to 127.0.0.1"));
    assert!(out["metadata"][1].as_str().unwrap().contains("link-local"));
    assert_eq!(out["tunnel"], "ping");
    assert_eq!(out["raw"], "ConnectionRefusedError");
    let usage = run.egress.expect("egress usage in the result");
    assert_eq!((usage.requests, usage.denied), (8, 5), "{usage:?}");
    assert!(usage.bytes > 0);
    let page = user
        .key
        .audit(Some(1), None, Some("execute"))
        .await
        .unwrap();
    let details = &page.entries[0].details;
    assert_eq!(details["egress"]["requests"], 8, "{details}");
    assert_eq!(details["egress"]["denied"], 5);
    assert_eq!(details["egress"]["bytes"], usage.bytes);
}

#[tokio::test]
async fn a_run_without_network_on_an_egress_server_still_has_no_way_out() {
    let exempt = http_service(None).await;
    let server = egress_server(&[exempt], None).await;
    let user = server.user().await;
    let code = format!(
        r#"
import os, socket
def attempt(port):
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port)); return "connected"
    except OSError as e:
        return type(e).__name__
print(attempt({}), attempt(3128), "HTTP_PROXY" in os.environ)
"#,
        exempt.port()
    );
    let run = user
        .key
        .execute(&ExecuteRequest {
            code,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        run.output, "ConnectionRefusedError ConnectionRefusedError False\n",
        "{}",
        run.error
    );
    assert!(run.egress.is_none());
}

#[tokio::test]
async fn a_download_past_the_runs_byte_limit_is_cut_off() {
    let exempt = http_service(None).await;
    let server = egress_server(&[exempt], Some(100_000)).await;
    let user = server.user().await;
    let code = format!(
        r#"
import urllib.request
try:
    body = urllib.request.urlopen("http://127.0.0.1:{}/big", timeout=10).read()
    print("read", len(body))
except Exception as e:
    print("cut", type(e).__name__)
"#,
        exempt.port()
    );
    let run = user
        .key
        .execute(&ExecuteRequest {
            code,
            network: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.output, "cut IncompleteRead\n", "{}", run.error);
    let usage = run.egress.unwrap();
    assert!(usage.bytes <= 100_000, "{usage:?}");
}

#[tokio::test]
async fn the_users_hourly_budget_in_the_database_cuts_a_download_and_holds_across_runs() {
    let exempt = http_service(None).await;
    let server = egress_server_with(&[exempt], |s| {
        s.egress.user_bytes_per_hour = 256 * 1024;
    })
    .await;
    let fetch = |path: &str| ExecuteRequest {
        code: format!(
            r#"
import urllib.request
try:
    print("read", len(urllib.request.urlopen("http://127.0.0.1:{}{path}", timeout=10).read()))
except Exception as e:
    print("cut", type(e).__name__)
"#,
            exempt.port()
        ),
        network: Some(true),
        ..Default::default()
    };
    let user = server.user().await;
    let first = user.key.execute(&fetch("/big")).await.unwrap();
    assert_eq!(first.output, "cut IncompleteRead\n", "{}", first.error);
    assert!(first.egress.unwrap().bytes <= 256 * 1024);
    // The next run of the same user finds the shared bucket empty; another user's is full.
    let second = user.key.execute(&fetch("/x")).await.unwrap();
    assert_eq!(
        second.output, "cut RemoteDisconnected\n",
        "{}",
        second.error
    );
    let other = server.user().await;
    let third = other.key.execute(&fetch("/x")).await.unwrap();
    assert_eq!(third.output, "read 29\n", "{}", third.error);
}

#[tokio::test]
async fn a_users_own_allow_list_narrows_their_runs_and_is_validated_and_audited() {
    let exempt = http_service(None).await;
    let server = egress_server(&[exempt], None).await;
    let user = server.user().await;
    let key = user.auth.api_key.clone().unwrap();
    let http = reqwest::Client::new();
    let url = server.url("/api/v1/egress/allow");
    let put = |hosts: serde_json::Value| {
        http.put(&url)
            .header("x-api-key", &key)
            .json(&serde_json::json!({ "hosts": hosts }))
            .send()
    };
    let fetch = ExecuteRequest {
        code: format!(
            r#"
import urllib.error, urllib.request
try:
    print(urllib.request.urlopen("http://127.0.0.1:{}/x", timeout=5).read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode().strip())
"#,
            exempt.port()
        ),
        network: Some(true),
        ..Default::default()
    };

    // No list: the exempt service is reachable.
    let got: serde_json::Value = http
        .get(&url)
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, serde_json::json!({ "hosts": null }));
    let run = user.key.execute(&fetch).await.unwrap();
    assert_eq!(run.output, "hello from the exempt service\n");

    // A list without it: refused, even though the operator exempted it.
    let res = put(serde_json::json!(["PyPI.org.", "*.github.com", "pypi.org"]))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let stored: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        stored["hosts"],
        serde_json::json!(["pypi.org", "*.github.com"])
    );
    let run = user.key.execute(&fetch).await.unwrap();
    assert_eq!(run.output, "403 127.0.0.1 is not on your allow-list\n");
    assert_eq!(run.egress.unwrap().denied, 1);

    // Naming it opens it again; bad patterns are refused; deleting restores the default.
    assert_eq!(
        put(serde_json::json!(["127.0.0.1"]))
            .await
            .unwrap()
            .status(),
        200
    );
    let run = user.key.execute(&fetch).await.unwrap();
    assert_eq!(run.output, "hello from the exempt service\n");
    let bad = put(serde_json::json!(["exa mple.com"])).await.unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["code"], "invalid_host_pattern", "{body}");
    let delete = || http.delete(&url).header("x-api-key", &key).send();
    assert_eq!(delete().await.unwrap().status(), 204);
    assert_eq!(delete().await.unwrap().status(), 404);
    let page = user
        .key
        .audit(Some(10), None, Some("egress."))
        .await
        .unwrap();
    let actions: Vec<_> = page.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "egress.allow.delete",
            "egress.allow.set",
            "egress.allow.set"
        ]
    );
}

#[tokio::test]
async fn with_egress_off_network_true_is_refused_on_every_run_route() {
    let server = TestServer::start().await;
    let user = server.user().await;
    assert!(!server.client.info().await.unwrap().features.egress);
    assert_api_error(
        user.key
            .execute(&ExecuteRequest {
                code: "print(1)".into(),
                network: Some(true),
                ..Default::default()
            })
            .await,
        400,
        "network_disabled",
    );
}

/// Measurement, not a check: `cargo test -p pyth-on-server --test api -- --ignored
/// --nocapture egress_costs` prints the per-request overhead and the relay's throughput.
#[tokio::test]
#[ignore = "measurement; prints numbers"]
async fn egress_costs() {
    let exempt = http_service(None).await;
    let server = egress_server(&[exempt], Some(1 << 30)).await;
    let user = server.user().await;
    let code = format!(
        r#"
import time, urllib.request, http.client
url = "http://127.0.0.1:{port}"
def get(path):
    return urllib.request.urlopen(url + path, timeout=10).read()
get("/x")
n = 20
t = time.perf_counter()
for _ in range(n):
    get("/x")
proxied = (time.perf_counter() - t) / n * 1000
t = time.perf_counter()
total = sum(len(get("/big")) for _ in range(24))
mbps = total / (time.perf_counter() - t) / 1e6
print(f"{{proxied:.2f}} {{mbps:.1f}}")
"#,
        port = exempt.port()
    );
    let run = user
        .key
        .execute(&ExecuteRequest {
            code: code.clone(),
            network: Some(true),
            timeout_ms: Some(60_000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.exit_code, 0, "{}", run.error);
    // The same program on the host, straight to the service (no proxy, no relay, no sandbox).
    let host = tokio::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(&code)
        .env_clear()
        .output()
        .await
        .unwrap();
    assert!(
        host.status.success(),
        "{}",
        String::from_utf8_lossy(&host.stderr)
    );
    let host = String::from_utf8_lossy(&host.stdout).to_string();
    let mut direct = host.split_whitespace();
    let mut parts = run.output.split_whitespace();
    println!(
        "python urllib, a new connection per request: {} ms through the proxy, {} ms direct \
         from the host; 24 x 1 MiB: {} MB/s through relay + proxy, {} MB/s direct",
        parts.next().unwrap(),
        direct.next().unwrap(),
        parts.next().unwrap(),
        direct.next().unwrap()
    );
}
