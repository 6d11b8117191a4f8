//! The benchmark's servers: each on a temporary data directory and an async runtime of its
//! own.

use anyhow::{bail, Context};
use pyth_on_client::Client;
use pyth_on_server::Settings;

/// The settings compared against their defaults, the same on all three servers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Switches {
    pub(super) runner_spawner: bool,
    pub(super) reuse_netns: bool,
    pub(super) control_cpus: pyth_on_server::placement::ControlCpus,
}

/// A server on a temporary data directory, stopped by [`Running::stop`]. It runs on an async
/// runtime of its own (worker threads as `pyth-on serve` has them), apart from the clients',
/// as a deployed server runs in a process of its own: sharing the clients' two worker threads
/// made a run cost about a millisecond more CPU with 4 clients (docs/PERFORMANCE.md).
pub(super) struct Running {
    pub(super) client: Client,
    pub(super) runtimes: pyth_on_launcher::Runtimes,
    /// Its launcher, for the warm pool's counts.
    pub(super) launcher: pyth_on_launcher::Launcher,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    _runtime: ServerRuntime,
    _dir: tempfile::TempDir,
}

/// A server's runtime, shut down without waiting when dropped (a runtime may not be dropped
/// the blocking way from inside the clients' async code).
struct ServerRuntime(Option<tokio::runtime::Runtime>);

impl Drop for ServerRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// What a server started on its runtime hands back.
struct Started {
    addr: std::net::SocketAddr,
    runtimes: pyth_on_launcher::Runtimes,
    launcher: pyth_on_launcher::Launcher,
}

impl Running {
    /// Server number `nth` (0, 1, 2) of the run: each gets a range of run uids of its own,
    /// as nodes on one host must.
    pub(super) async fn start(
        nth: u32,
        pool_size: usize,
        fork_server: bool,
        switches: Switches,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("temporary data directory")?;
        let settings = settings(dir.path(), nth, pool_size, fork_server, switches);
        let rt = pyth_on_server::placement::runtime(settings.control_cpus)
            .context("the server's async runtime")?;
        let (started_tx, started) = tokio::sync::oneshot::channel::<Started>();
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = rt.spawn(async move {
            let state = pyth_on_server::build_state(settings).await?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let _ = started_tx.send(Started {
                addr: listener.local_addr()?,
                runtimes: state.launcher().runtimes().clone(),
                launcher: state.launcher().clone(),
            });
            pyth_on_server::serve(state, listener, async {
                let _ = rx.await;
            })
            .await
        });
        let runtime = ServerRuntime(Some(rt));
        let Ok(Started {
            addr,
            runtimes,
            launcher,
        }) = started.await
        else {
            handle.await??;
            bail!("the benchmark's server stopped before it listened");
        };
        let client = Client::new(&format!("http://{addr}"))?;
        let auth = client
            .register("bench@example.com", "benchmark password 123")
            .await?;
        let client = client.with_api_key(auth.api_key.unwrap_or_default());
        Ok(Self {
            client,
            runtimes,
            launcher,
            stop,
            handle,
            _runtime: runtime,
            _dir: dir,
        })
    }

    pub(super) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.handle.await?
    }
}

/// Server number `nth`'s settings: every limit a benchmark would hit lifted.
fn settings(
    dir: &std::path::Path,
    nth: u32,
    pool_size: usize,
    fork_server: bool,
    switches: Switches,
) -> Settings {
    let mut settings = Settings::for_data_dir(dir);
    let uids = settings.runs.run_uid_count;
    settings.runs.run_uid_start += nth * uids;
    settings.rate_limit_per_minute = 1_000_000;
    settings.auth_rate_limit_per_minute = 1000;
    settings.runs.max_queued_runs = 1024;
    settings.runs.max_concurrent_runs_per_user = 64;
    settings.pool_size = Some(pool_size);
    settings.fork_server = fork_server;
    settings.runner_spawner = switches.runner_spawner;
    settings.reuse_netns = switches.reuse_netns;
    settings.control_cpus = switches.control_cpus;
    // Prepared runners are not retired while idle: a measurement of one server is not
    // disturbed by the others replacing theirs (the default replaces them every minute).
    settings.pool_idle_secs = 24 * 3600;
    settings
}
