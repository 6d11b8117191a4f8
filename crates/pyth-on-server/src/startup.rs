//! Start-up: data directory, database, key material, runtimes, then serving with graceful
//! shutdown.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use pyth_on_crypto::{JwtKeys, Keyring};
use pyth_on_launcher::{
    ForkServerConfig, Language, Launcher, LauncherConfig, PoolConfig, RuntimeConfig, Runtimes,
};
use tokio::net::TcpListener;

use crate::packages::{BuildSandbox, PackageManager};
use crate::routes::router;
use crate::settings::Settings;
use crate::settings_error::SettingsError;
use crate::state::{AppState, Parts};

pub use crate::settings::JWT_KEY_FILE;

/// Creates `dir` (and parents) with mode 0700 when missing.
fn ensure_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// Everything but the listener: validated settings → ready state.
pub async fn build_state(mut settings: Settings) -> anyhow::Result<AppState> {
    // Password hashing's 19 MiB buffers go back to the system after each hash.
    if !pyth_on_sandbox::return_large_blocks_to_the_system() {
        tracing::warn!("the allocator's mmap threshold could not be set; memory may stay high");
    }
    settings.absolutize()?;
    settings.validate()?;
    ensure_private_dir(&settings.data_dir)?;
    // Absolute and free of `.`/`..` and symlinks: package environments are bind-mounted from
    // here into sandboxes, which take normalised absolute paths only.
    settings.data_dir = std::fs::canonicalize(&settings.data_dir)
        .with_context(|| format!("resolving {}", settings.data_dir.display()))?;
    settings.runs.node_name = Some(settings.runs.node_name(settings.listen));
    let key_dir = settings.key_dir();
    ensure_private_dir(&key_dir)?;

    let store = pyth_on_store::connect_with(
        &settings.database_url(),
        &settings.database.connect_options(),
    )
    .await
    .context("opening the database")?;
    let jwt_secret = pyth_on_crypto::load_or_create_secret_file(&key_dir.join(JWT_KEY_FILE), 32)
        .context("loading the JWT signing key")?;
    let jwt = JwtKeys::new(&jwt_secret).context("the JWT signing key")?;
    let keyring = Keyring::load_or_create(&key_dir).context("loading the secrets keyring")?;

    // A runtime not found on the host is a warning (logged by `detect`) and a 400 for that
    // language; one the operator named that does not work stops the start.
    let runtimes = Runtimes::detect(&RuntimeConfig {
        python: settings.python.clone(),
        node: settings.node.clone(),
    })
    .await;
    named_runtimes_work(&settings, &runtimes)?;
    let launcher = Launcher::new(launcher_config(&settings, runtimes))
        .context("preparing the sandbox launcher")?;
    let packages = package_manager(&settings, &launcher)?;

    let llm = pyth_on_llm::try_provider_from_config(&settings.llm_config())
        .context("configuring the generate provider")?;
    match &llm {
        Some(p) => tracing::info!(provider = p.name(), model = p.model(), "generate enabled"),
        None => tracing::info!("generate disabled: no provider configured"),
    }

    let egress = crate::egress::Egress::from_settings(&settings.egress, settings.listen)?;
    tracing::info!(enabled = egress.is_some(), "egress");

    Ok(AppState::new(Parts {
        settings,
        store,
        jwt,
        keyring,
        launcher,
        llm,
        packages: Some(packages),
        egress,
    }))
}

/// The launcher's settings: runner, slots, per-run uids and the warm pool.
fn launcher_config(settings: &Settings, runtimes: Runtimes) -> LauncherConfig {
    let mut cfg = LauncherConfig::new(runtimes);
    cfg.runner_path = settings.runner.clone();
    cfg.max_concurrency = settings.runs.parallel_runs();
    cfg.identities = Some((settings.runs.run_uid_start, settings.runs.run_uid_count));
    cfg.pool = PoolConfig {
        size_per_language: settings.pool_size(),
        refill_concurrency: settings.pool_refill_concurrency,
        idle_lifetime: Duration::from_secs(settings.pool_idle_secs),
        prestart: settings.pool_prestart,
    };
    cfg.fork_server = ForkServerConfig {
        enabled: settings.fork_server,
        max_runs: settings.fork_server_runs,
    };
    cfg.spawner = settings.runner_spawner;
    cfg.reuse_netns = settings.reuse_netns;
    cfg
}

/// The package manager, its builds in sandboxes on `launcher` targeting the runs' Python.
fn package_manager(settings: &Settings, launcher: &Launcher) -> anyhow::Result<PackageManager> {
    let python = runtimes_python(launcher.runtimes());
    let cfg = settings.packages.config(&settings.data_dir, python);
    let sandbox = BuildSandbox::new(
        launcher.clone(),
        settings.egress.socket_dir.clone(),
        settings.egress.deny.clone(),
        settings.listen,
    )
    .map_err(|e| anyhow::anyhow!("preparing the package build sandbox: {e}"))?;
    PackageManager::new(cfg, sandbox).context("preparing package environments")
}

/// The interpreter package builds must target: the one runs use.
fn runtimes_python(runtimes: &Runtimes) -> PathBuf {
    runtimes.python.as_ref().map_or_else(
        || PathBuf::from("/usr/bin/python3"),
        |r| r.interpreter.clone(),
    )
}

/// How often a node re-reads the key directory (so a `keys rotate` elsewhere becomes its
/// current sealing key, and a retired version goes away).
const KEYRING_RELOAD: Duration = Duration::from_secs(10);

/// Reloads the secrets keyring every `every` for as long as the server runs.
fn spawn_keyring_reload(state: AppState, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let loader = state.clone();
            let _ = tokio::task::spawn_blocking(move || loader.reload_keyring()).await;
        }
    });
}

/// Serves on `listener` until `shutdown` resolves; in-flight requests finish first.
pub async fn launch(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut settings = settings;
    // The real address (port 0 resolved): egress refuses it.
    if let Ok(addr) = listener.local_addr() {
        settings.listen = addr;
    }
    let state = build_state(settings).await?;
    serve(state, listener, shutdown).await
}

/// What a node does before it serves: the runs and sessions it left open when it last
/// stopped (it died) closed and off the record; then its sweepers, reaper, key reload and
/// package garbage collection started.
async fn start_background_work(state: &AppState) -> anyhow::Result<()> {
    crate::execution::record::close_left_open(state)
        .await
        .context("closing the runs this node left open")?;
    crate::execution::record::spawn_sweeper(state.clone());
    crate::sessions::records::clear_left_by_earlier_runs(state)
        .await
        .context("clearing the session records this node left")?;
    crate::sessions::records::spawn_sweeper(state.clone());
    spawn_keyring_reload(state.clone(), KEYRING_RELOAD);
    crate::sessions::reaper::spawn(state.clone());
    if let Some(packages) = state.packages() {
        crate::packages::spawn_gc_task(
            packages.clone(),
            state.store_arc(),
            Duration::from_secs(3600),
        );
    }
    Ok(())
}

/// Serves an already built state on `listener` until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    start_background_work(&state).await?;
    let addr = listener
        .local_addr()
        .context("reading the listen address")?;
    let registration = state.settings().registration.mode(addr);
    let mode = registration.as_str();
    tracing::info!(listen = %addr, backend = state.store().backend(), registration = mode, "pyth-on serving");
    crate::placement::log(state.settings().control_cpus);
    if registration == crate::registration::RegistrationMode::Open && !addr.ip().is_loopback() {
        tracing::warn!("registration is open on a network address: anyone who reaches it can sign up and run code");
    }
    let runs_state = state.clone();
    let connections = state.settings().connections.clone();
    let trusted_proxies = state.settings().trusted_proxies.clone();
    let grace = Duration::from_secs(state.settings().shutdown_grace_secs);
    let app = router(state).context("building the router")?;
    let (asked, asked_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        let _ = asked.send(());
    };
    let drain = async {
        crate::http::connections::serve(listener, app, &connections, &trusted_proxies, shutdown)
            .await;
        // In-flight requests are done: wait for runs carried on without their client, then
        // retire the warm runners and wait for any run still going.
        crate::sessions::close_all(&runs_state).await;
        runs_state.runs().detached_done().await;
        runs_state.launcher().shutdown().await;
    };
    let grace_over = async {
        if asked_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        () = drain => tracing::info!("pyth-on stopped"),
        () = grace_over => tracing::warn!(
            grace_secs = grace.as_secs(),
            "pyth-on stopped at the end of its shutdown grace period with work still in flight"
        ),
    }
    Ok(())
}

/// `--python` and `--node`, when given, name a runtime that answered its probe.
fn named_runtimes_work(settings: &Settings, runtimes: &Runtimes) -> Result<(), SettingsError> {
    let named = [
        ("--python", settings.python.as_ref(), Language::Python),
        ("--node", settings.node.as_ref(), Language::Javascript),
    ];
    for (flag, path, language) in named {
        if let Some(path) = path.filter(|_| runtimes.get(language).is_none()) {
            return Err(SettingsError::new(
                flag,
                format!("{} does not run as {}", path.display(), language.as_str()),
            ));
        }
    }
    Ok(())
}
