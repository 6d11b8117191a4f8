//! Egress through the relay: the program's proxy variables lead to `127.0.0.1:3128` in its
//! network namespace, which relays to the Unix socket named in the job; nothing else opens up.

#![allow(clippy::unwrap_used, reason = "test helpers panic on purpose")]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::sync::mpsc;

use common::{ok, privileged, py};
use pyth_on_sandbox::egress::EgressSpec;

/// Serves `count` connections on `path` with a fixed HTTP answer; sends each request head.
fn fake_proxy(path: &std::path::Path, count: usize) -> mpsc::Receiver<String> {
    let listener = UnixListener::bind(path).expect("bind unix socket");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(count) {
            let mut conn = conn.expect("accept");
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let body = "proxied hello";
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(answer.as_bytes());
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
        }
    });
    rx
}

#[test]
fn a_run_with_egress_reaches_the_servers_socket_through_its_proxy_variables_only() {
    privileged();
    if std::env::var_os("PYTH_ON_TEST_PREPARED").is_some() {
        // Egress jobs always take the cold path: a Prepare profile with egress is refused (the
        // cold run of the default pass covered this test).
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("run.sock");
    let requests = fake_proxy(&socket, 1);
    let mut spec = py(r#"
import os, socket, urllib.request
print(os.environ["HTTPS_PROXY"], repr(os.environ["NO_PROXY"]))
print(urllib.request.urlopen("http://example.invalid/path?q=1", timeout=5).read().decode())
def attempt(addr):
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect(addr); return "connected"
    except OSError as e:
        return type(e).__name__
print(attempt(("1.1.1.1", 443)), attempt(("169.254.169.254", 80)), socket.if_nameindex())
"#);
    spec.egress = Some(EgressSpec {
        socket: socket.clone(),
    });
    let out = ok(&spec);
    assert_eq!(
        out,
        "http://127.0.0.1:3128 ''\nproxied hello\nOSError OSError [(1, 'lo')]\n"
    );
    let head = requests.recv().expect("one request reached the socket");
    assert!(
        head.starts_with("GET http://example.invalid/path?q=1 HTTP/1.1\r\n"),
        "{head}"
    );
}

#[test]
fn a_run_without_egress_has_no_proxy_port_and_no_proxy_variables() {
    privileged();
    let out = ok(&py(r#"
import os, socket
s = socket.socket(); s.settimeout(2)
try:
    s.connect(("127.0.0.1", 3128)); print("connected")
except OSError as e:
    print(type(e).__name__)
print(sorted(k for k in os.environ if "proxy" in k.lower()))
"#));
    assert_eq!(out, "ConnectionRefusedError\n[]\n");
}
