//! The sandbox end of network egress: a relay that makes the server's per-run proxy appear at
//! `127.0.0.1:3128` inside the run's network namespace, which otherwise keeps only loopback.
//!
//! The runner (the supervisor, root, outside every namespace but this one) starts a thread
//! that enters the run's network namespace with `setns` — only that thread moves, and it
//! stays there — binds the listener there before the program is released, and relays each
//! accepted connection to the Unix socket the server created for this run
//! ([`EgressSpec::socket`]; a path in the host's mount namespace, which the program cannot
//! see). The program gets no new route, address or descriptor: its only way out is a TCP
//! connection to that loopback port, and what it says there is judged by the server's proxy,
//! which knows the run by the socket it created for it. The relay dies with the runner.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use serde::{Deserialize, Serialize};

use crate::error::{SandboxError, SysError};
use crate::protocol::EnvVar;
use crate::sys;

/// The proxy's port on the run's loopback.
pub const PROXY_PORT: u16 = 3128;

/// Connections relayed at once; more are closed at once (the server bounds the rest).
const MAX_RELAYS: usize = 32;

/// A run's egress: where the server's proxy for this run listens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EgressSpec {
    /// Absolute path of the run's Unix socket on the host.
    pub socket: PathBuf,
}

/// The variables that point programs at the proxy (curl, Python's urllib and `requests`, pip
/// honour them; Node 20's `fetch` does not, see the crate README).
pub fn proxy_env() -> Vec<EnvVar> {
    let url = format!("http://127.0.0.1:{PROXY_PORT}");
    [
        ("HTTP_PROXY", url.as_str()),
        ("HTTPS_PROXY", url.as_str()),
        ("http_proxy", url.as_str()),
        ("https_proxy", url.as_str()),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
        // Node 24+ honours the variables above only with this set; older versions ignore it.
        ("NODE_USE_ENV_PROXY", "1"),
    ]
    .into_iter()
    .map(|(name, value)| EnvVar {
        name: name.into(),
        value: value.into(),
    })
    .collect()
}

/// Starts the relay inside the network namespace of `init_pid` and returns once its listener
/// is bound. Call after the sandbox is ready and before the job is released.
pub(crate) fn start_relay(init_pid: i32, spec: &EgressSpec) -> Result<(), SandboxError> {
    if !spec.socket.is_absolute() {
        return Err(SandboxError::InvalidJob(
            "the egress socket must be an absolute path".into(),
        ));
    }
    let ns_path = format!("/proc/{init_pid}/ns/net");
    let ns = File::open(&ns_path).map_err(|e| SysError::from_io("open", ns_path, e))?;
    let socket = spec.socket.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("egress-relay".into())
        .spawn(move || {
            let bound = sys::setns(ns.as_fd(), libc::CLONE_NEWNET)
                .map_err(SandboxError::from)
                .and_then(|()| {
                    TcpListener::bind(("127.0.0.1", PROXY_PORT)).map_err(|e| {
                        SysError::from_io("bind", format!("127.0.0.1:{PROXY_PORT}"), e).into()
                    })
                });
            drop(ns);
            match bound {
                Ok(listener) => {
                    let _ = tx.send(Ok(()));
                    accept_loop(&listener, &socket);
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })
        .map_err(|e| SysError::from_io("spawn", "egress relay thread".into(), e))?;
    rx.recv().unwrap_or_else(|_| {
        Err(SandboxError::ChildSetup(
            "the egress relay thread ended before binding".into(),
        ))
    })
}

fn accept_loop(listener: &TcpListener, socket: &std::path::Path) {
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let Ok(tcp) = conn else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_RELAYS {
            active.fetch_sub(1, Ordering::SeqCst);
            continue; // dropping `tcp` closes it
        }
        let Ok(unix) = UnixStream::connect(socket) else {
            active.fetch_sub(1, Ordering::SeqCst);
            continue;
        };
        let active = active.clone();
        let spawned = std::thread::Builder::new()
            .name("egress-conn".into())
            .spawn(move || {
                relay(tcp, unix);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // The closure (and both streams) were dropped; the count is stale but bounded.
            continue;
        }
    }
}

/// Copies both ways until both directions reached EOF (half-closes are passed on).
fn relay(tcp: TcpStream, unix: UnixStream) {
    let (Ok(tcp2), Ok(unix2)) = (tcp.try_clone(), unix.try_clone()) else {
        return;
    };
    let up = std::thread::Builder::new()
        .name("egress-up".into())
        .spawn(move || {
            copy(&tcp2, &unix2);
            let _ = unix2.shutdown(Shutdown::Write);
        });
    copy(&unix, &tcp);
    let _ = tcp.shutdown(Shutdown::Write);
    if let Ok(up) = up {
        let _ = up.join();
    }
}

fn copy(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
