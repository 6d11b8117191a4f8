//! `TestServer`: a real server on 127.0.0.1:0 with its own temporary data directory.

use std::net::SocketAddr;
use std::path::PathBuf;

use pyth_on_client::Client;
use pyth_on_server::Settings;
use tokio::sync::oneshot;

/// A running server; stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub client: Client,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// The runner binary of this workspace (built by `cargo build --workspace` before the tests).
pub fn runner_path() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    // target/debug/deps/api-xxxx → target/debug/pyth-on-runner
    let debug_dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let runner = debug_dir.join("pyth-on-runner");
    assert!(
        runner.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        runner.display()
    );
    runner
}

/// Settings for a test: defaults, a temp data dir, generous auth rate limits, and no warm pool
/// (these tests are about the API, not the sandbox's start-up: each run starts cold, and a
/// server does not start eight interpreters it may never use). The warm paths have their own
/// suites in the launcher and sandbox crates.
pub fn settings(dir: &std::path::Path) -> Settings {
    let mut s = Settings::for_data_dir(dir);
    s.runner = Some(runner_path());
    s.auth_rate_limit_per_minute = 1000;
    s.pool_size = Some(0);
    s
}

impl TestServer {
    /// A server with default test settings on SQLite.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server with settings adjusted by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = settings(dir.path());
        tweak(&mut s);
        Self::start_settings(dir, s).await
    }

    /// A server with exactly these settings in `dir`.
    pub async fn start_settings(dir: tempfile::TempDir, s: Settings) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(pyth_on_server::launch(s, listener, async {
            let _ = rx.await;
        }));
        let client = Client::new(&format!("http://{addr}")).expect("client");
        // Wait until it answers (start-up migrates and detects runtimes).
        for _ in 0..200 {
            if client.info().await.is_ok() {
                break;
            }
            if handle.is_finished() {
                let err = handle.await.expect("join").expect_err("server exited");
                panic!("server failed to start: {err:#}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        Self {
            addr,
            client,
            dir,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// Registers a fresh user and returns (api-key client, jwt client, auth response).
    pub async fn user(&self) -> TestUser {
        let email = format!("user-{}@example.com", uuid::Uuid::now_v7().simple());
        let auth = self
            .client
            .register(&email, "correct horse battery staple")
            .await
            .expect("register");
        TestUser {
            key: self
                .client
                .with_api_key(auth.api_key.clone().expect("api key")),
            jwt: self.client.with_token(auth.token.clone()),
            email,
            auth,
        }
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.handle.take() {
            Some(h) => h.await.expect("join"),
            None => Ok(()),
        }
    }

    /// Stops the server and hands back its data directory for a restart.
    pub async fn stop_keeping_dir(mut self) -> tempfile::TempDir {
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("join").expect("clean shutdown");
        }
        dir
    }

    /// Raw URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `GET /metrics` every 50 ms, at most `tries` times, until `done` holds for the text;
    /// returns the last text (the caller asserts on it).
    pub async fn metrics_until(&self, tries: u32, done: impl Fn(&str) -> bool) -> String {
        let mut text = String::new();
        for _ in 0..tries {
            text = reqwest::get(self.url("/metrics"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if done(&text) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        text
    }

    /// Waits (metrics on) until the network-namespace pool has made a namespace, so that the
    /// next run leases one: a run that comes before any is ready makes its own, and gives
    /// nothing back to be checked and reused.
    pub async fn netns_made(&self) {
        let made = |t: &str| gauge(t, "pyth_on_netns_created_total") >= 1.0;
        let text = self.metrics_until(400, made).await;
        assert!(made(&text), "the pool made no namespace: {text}");
    }
}

/// The value of the unlabelled metric `name` in `text` (panics when it is missing).
pub fn gauge(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing: {text}"))
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A registered user.
pub struct TestUser {
    pub key: Client,
    pub jwt: Client,
    pub email: String,
    pub auth: pyth_on_types::AuthResponse,
}

/// Asserts a client error's status and code.
#[track_caller]
pub fn assert_api_error<T: std::fmt::Debug>(
    result: Result<T, pyth_on_client::ClientError>,
    status: u16,
    code: &str,
) -> pyth_on_types::ErrorBody {
    match result {
        Err(pyth_on_client::ClientError::Api { status: s, body }) => {
            assert_eq!(s.as_u16(), status, "status for {body:?}");
            assert_eq!(body.code, code, "code for {body:?}");
            assert!(
                !body.request_id.is_empty() && body.request_id != "-",
                "request id in {body:?}"
            );
            body
        }
        other => panic!("expected {status} {code}, got {other:?}"),
    }
}
