//! A small round-robin TCP load balancer for the multi-node tests, as a real L4 balancer with
//! passive health checks behaves: each new client connection goes to the next backend in
//! turn; a backend that refuses the connection is skipped (the client's connection goes to
//! the one after it) and left out for [`RECHECK`] before it is tried again. Bytes are copied
//! both ways untouched, so a backend that dies cuts the connections it held.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

/// How long a backend that refused a connection is left out before it is tried again.
pub const RECHECK: Duration = Duration::from_secs(1);

/// How long a connection attempt to a backend may take before the next one is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The balancer; it stops accepting when dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

/// What a backend has seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendStats {
    /// Client connections carried to it.
    pub served: usize,
    /// Connection attempts it refused (or did not answer in time).
    pub refused: usize,
    /// Client connections to it open right now.
    pub open: usize,
}

struct Backend {
    addr: SocketAddr,
    served: AtomicUsize,
    refused: AtomicUsize,
    open: AtomicUsize,
    left_out_until: Mutex<Option<Instant>>,
}

struct Shared {
    backends: Vec<Backend>,
    next: AtomicUsize,
    /// For each client connection that met a refusal: how long finding a backend took.
    failovers: Mutex<Vec<Duration>>,
}

impl Proxy {
    /// A balancer on a free loopback port in front of `backends`.
    pub async fn start(backends: &[SocketAddr]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            backends: backends.iter().map(|&addr| Backend::new(addr)).collect(),
            next: AtomicUsize::new(0),
            failovers: Mutex::default(),
        });
        let accepting = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(Arc::clone(&accepting).carry(client));
            }
        });
        Self { addr, shared, task }
    }

    /// The balancer's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Each backend's counters, in the order given to [`Proxy::start`].
    pub fn stats(&self) -> Vec<BackendStats> {
        self.shared.backends.iter().map(Backend::stats).collect()
    }

    /// For each client connection that met a refused backend, how long it waited for one
    /// that took it (the cost of routing around a dead node).
    pub fn failovers(&self) -> Vec<Duration> {
        self.shared.failovers.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            served: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            left_out_until: Mutex::new(None),
        }
    }

    fn stats(&self) -> BackendStats {
        BackendStats {
            served: self.served.load(Ordering::SeqCst),
            refused: self.refused.load(Ordering::SeqCst),
            open: self.open.load(Ordering::SeqCst),
        }
    }

    fn left_out(&self, now: Instant) -> bool {
        let until = *self.left_out_until.lock().unwrap();
        until.is_some_and(|until| now < until)
    }

    async fn connect(&self) -> Option<TcpStream> {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.addr)).await {
            Ok(Ok(stream)) => Some(stream),
            _ => {
                self.refused.fetch_add(1, Ordering::SeqCst);
                *self.left_out_until.lock().unwrap() = Some(Instant::now() + RECHECK);
                None
            }
        }
    }
}

impl Shared {
    /// Finds a backend for `client` and copies bytes both ways until either side closes.
    async fn carry(self: Arc<Self>, mut client: TcpStream) {
        let Some((backend, mut upstream)) = self.pick().await else {
            return; // no backend takes connections: the client's connection is closed
        };
        backend.served.fetch_add(1, Ordering::SeqCst);
        backend.open.fetch_add(1, Ordering::SeqCst);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        backend.open.fetch_sub(1, Ordering::SeqCst);
    }

    /// The next backend in turn that accepts a connection: those left out are skipped while
    /// any other remains; when every one is left out, each is tried anyway.
    async fn pick(&self) -> Option<(&Backend, TcpStream)> {
        let started = Instant::now();
        let n = self.backends.len();
        let first = self.next.fetch_add(1, Ordering::SeqCst);
        let order: Vec<&Backend> = (0..n).map(|i| &self.backends[(first + i) % n]).collect();
        let (live, left_out): (Vec<&Backend>, Vec<&Backend>) =
            order.into_iter().partition(|b| !b.left_out(started));
        let mut met_refusal = false;
        for backend in live.into_iter().chain(left_out) {
            if let Some(stream) = backend.connect().await {
                if met_refusal {
                    self.failovers.lock().unwrap().push(started.elapsed());
                }
                return Some((backend, stream));
            }
            met_refusal = true;
        }
        None
    }
}
