//! `pyth-on serve`: validate settings, bind, serve until SIGINT or SIGTERM (then drain within
//! `--shutdown-grace-secs`; a second signal stops at once).

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use pyth_on_server::Settings;
use tracing_subscriber::EnvFilter;

/// Start the HTTP API server (every flag is also a `PYTH_ON_*` variable; a flag wins).
#[derive(Debug, clap::Args)]
pub struct Cmd {
    #[command(flatten)]
    settings: Settings,

    /// Log as JSON lines instead of text.
    #[arg(
        long,
        env = "PYTH_ON_LOG_JSON",
        default_value = "false",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = pyth_on_server::settings_bool::BoolSetting
    )]
    log_json: bool,
}

impl Cmd {
    /// The server's runtime: its threads keep to the control CPUs (`--control-cpus`).
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        pyth_on_server::placement::runtime(self.settings.control_cpus)
    }

    /// Runs the server on the runtime's worker threads (not on the thread blocking on the
    /// runtime, which keeps every CPU: the threads the server starts inherit their starter's).
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        tokio::spawn(self.serve()).await?
    }

    async fn serve(self) -> anyhow::Result<ExitCode> {
        init_logging(self.log_json);
        self.settings.validate()?;
        let listener = tokio::net::TcpListener::bind(self.settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.settings.listen))?;
        pyth_on_server::launch(self.settings, listener, shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    }
}

fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_env("PYTH_ON_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a person at a terminal: a log file or journal gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Resolves at the first SIGINT or SIGTERM (the server then drains, within its grace period);
/// a second one stops the process at once.
async fn shutdown_signal() {
    stop_signal().await;
    tracing::info!("shutdown requested; finishing in-flight requests (a second signal stops now)");
    tokio::spawn(async {
        stop_signal().await;
        tracing::warn!("second shutdown signal: stopping now");
        std::process::exit(130);
    });
}

/// The next SIGINT or SIGTERM.
async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
