//! The `pyth-on` command: a thin shell over the server and client libraries.
#![forbid(unsafe_code)]

mod commands;

use clap::{CommandFactory, Parser, Subcommand};

/// Pyth-On: run untrusted Python and JavaScript in single-use isolated sandboxes.
#[derive(Debug, Parser)]
#[command(
    name = "pyth-on",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PYTH_ON_GIT_REVISION"), ")"),
    about
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[expect(clippy::large_enum_variant, reason = "parsed once at start-up")]
enum Command {
    /// Start the HTTP API server.
    Serve(commands::serve::Cmd),
    /// Manage the server's secrets keys (rotate, retire, list), on this machine.
    ServerKeys(commands::server_keys::Cmd),
    /// The account's API keys: create, list, revoke.
    Keys(commands::api_keys::Cmd),
    /// Sign in to a server and save a key for `run`, `session` and `zk`.
    Login(commands::login::Cmd),
    /// Forget the key `login` saved.
    Logout(commands::login::LogoutCmd),
    /// The account's secrets: set (value from stdin), list, rm.
    Secrets(commands::account::SecretsCmd),
    /// The account's persistent packages: add, ls, rm.
    Packages(commands::account::PackagesCmd),
    /// The account's audit log, or `--verify` its hash chain.
    Audit(commands::account::AuditCmd),
    /// The account's use of its quotas today.
    Usage(commands::account::UsageCmd),
    /// Call any API route with the saved login: `pyth-on api GET /api/v1/usage`.
    Api(commands::api::Cmd),
    /// Run a file through a running server.
    Run(commands::run::Cmd),
    /// Sessions: live interpreters that keep their state between cells.
    Session(commands::session::Cmd),
    /// Accounts on this machine's database: create the first administrator, list, disable,
    /// enable, set a role or quotas, delete.
    Users(commands::users::Cmd),
    /// Zero-knowledge code: encrypt a file locally and store it, run, list or delete it.
    Zk(commands::zk::Cmd),
    /// Print a shell completion script: `pyth-on completions bash > /etc/bash_completion.d/pyth-on`.
    Completions(commands::completions::Cmd),
    /// Measure latency and throughput through the HTTP API against a subprocess baseline.
    Bench(commands::bench::Cmd),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match &cli.command {
        Command::Serve(cmd) => cmd.runtime(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("pyth-on: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(cmd) => cmd.run().await,
            Command::ServerKeys(cmd) => cmd.run().await,
            Command::Keys(cmd) => cmd.run().await,
            Command::Run(cmd) => cmd.run().await,
            Command::Session(cmd) => cmd.run().await,
            Command::Bench(cmd) => cmd.run().await,
            Command::Zk(cmd) => cmd.run().await,
            Command::Users(cmd) => cmd.run().await,
            Command::Completions(cmd) => cmd.run(Cli::command()),
            Command::Login(cmd) => cmd.run().await,
            Command::Secrets(cmd) => cmd.run().await,
            Command::Audit(cmd) => cmd.run().await,
            Command::Packages(cmd) => cmd.run().await,
            Command::Usage(cmd) => cmd.run().await,
            Command::Api(cmd) => cmd.run().await,
            Command::Logout(cmd) => cmd.run().await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            // One clear line: the whole cause chain.
            eprintln!("pyth-on: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
