//! `pyth-on session`: open a session on a running server, run cells in it, move files in and
//! out of its working directory, list and end sessions.

mod exec;
mod files;
mod results;

use super::credentials::ServerArgs;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use pyth_on_client::{Client, ClientError};
use pyth_on_types::{CreateSessionRequest, SessionInfo};
use uuid::Uuid;

use super::api_error::with_details;

/// Sessions: live interpreters that keep their state between cells.
#[derive(Debug, clap::Args)]
pub struct Cmd {
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Open a session and print its id.
    New(New),
    /// List your open sessions on the server.
    Ls {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run one cell in a session, streaming its output.
    Exec(exec::Exec),
    /// Put, get, list and remove files in a session's working directory.
    Files(files::Files),
    /// End sessions: their sandboxes and processes are gone when this returns.
    Rm {
        /// The sessions' ids.
        #[arg(value_name = "ID", required = true, value_parser = parse_id)]
        ids: Vec<Uuid>,
    },
}

/// Options of `session new`.
#[derive(Debug, clap::Args)]
struct New {
    /// `python` or `javascript`; default python.
    #[arg(long)]
    language: Option<String>,
    /// Memory limit of the whole session in MiB.
    #[arg(long, value_name = "MIB")]
    memory_mb: Option<u64>,
    /// Seconds without a cell after which the session ends.
    #[arg(long, value_name = "SECS")]
    idle_timeout: Option<u64>,
    /// Seconds after which the session ends however busy.
    #[arg(long, value_name = "SECS")]
    max_lifetime: Option<u64>,
    /// A package to install and make importable in the session (a PyPI or npm spec such as
    /// `pandas==2.2`); repeatable.
    #[arg(long = "package", value_name = "SPEC")]
    packages: Vec<String>,
    /// Network access through the server's egress proxy (the server must allow it).
    #[arg(long)]
    network: bool,
    /// An environment variable for the session; repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// A secret the session needs (only those named are injected; none named: the account's
    /// default); repeatable.
    #[arg(long = "secret", value_name = "NAME")]
    secrets: Vec<String>,
    /// Print the whole session information as JSON instead of its id.
    #[arg(long)]
    json: bool,
}

/// A session id as the command line gives it.
pub fn parse_id(raw: &str) -> Result<Uuid, String> {
    Uuid::parse_str(raw.trim()).map_err(|_| format!("{raw:?} is not a session id (a UUID)"))
}

/// `NAME=VALUE`.
fn parse_env(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.into(), value.into())),
        _ => Err(format!("{raw:?} is not NAME=VALUE")),
    }
}

impl Cmd {
    /// Runs the subcommand against the server.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let client = self.server.client()?;
        match self.command {
            Command::New(new) => new.run(&client).await,
            Command::Ls { json } => list(&client, json).await,
            Command::Exec(exec) => exec.run(&client).await,
            Command::Files(files) => files.run(&client).await,
            Command::Rm { ids } => remove(&client, &ids).await,
        }
    }
}

impl New {
    async fn run(self, client: &Client) -> anyhow::Result<ExitCode> {
        let request = CreateSessionRequest {
            language: self.language,
            memory_mb: self.memory_mb,
            idle_timeout_sec: self.idle_timeout,
            max_lifetime_sec: self.max_lifetime,
            env: (!self.env.is_empty()).then(|| self.env.into_iter().collect::<BTreeMap<_, _>>()),
            packages: (!self.packages.is_empty()).then_some(self.packages),
            network: self.network.then_some(true),
            secrets: (!self.secrets.is_empty()).then_some(self.secrets),
        };
        let info = client
            .create_session(&request)
            .await
            .map_err(|e| anyhow!("the server did not open the session: {}", with_details(&e)))?;
        let mut out = std::io::stdout().lock();
        if self.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&info)?)?;
        } else {
            writeln!(out, "{}", info.id)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `session ls`: a table (or JSON) of the caller's open sessions.
async fn list(client: &Client, json: bool) -> anyhow::Result<ExitCode> {
    let list = client.list_sessions().await.context("listing sessions")?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if list.sessions.is_empty() {
        eprintln!("pyth-on: no open sessions");
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<36}  {:<10}  {:<4}  {:>7}  {:<20}  EXPIRES",
        "ID", "LANGUAGE", "BUSY", "MEM MiB", "CREATED"
    )?;
    for s in &list.sessions {
        writeln!(out, "{}", row(s))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn row(s: &SessionInfo) -> String {
    let when = super::rfc3339;
    let busy = if s.status == "busy" { "yes" } else { "no" };
    format!(
        "{:<36}  {:<10}  {:<4}  {:>7}  {:<20}  {}",
        s.id,
        s.language,
        busy,
        s.memory_mb,
        when(s.created_at),
        when(s.expires_at)
    )
}

/// `session rm`: ends each session; one that is not there is reported, the others still end.
async fn remove(client: &Client, ids: &[Uuid]) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for &id in ids {
        if let Err(e) = client.delete_session(id).await {
            eprintln!("pyth-on: {:#}", about_session(e, id));
            failed += 1;
        }
    }
    match failed {
        0 => Ok(ExitCode::SUCCESS),
        _ => Ok(ExitCode::FAILURE),
    }
}

/// An error of a request about session `id`, in words: an unknown or ended session and a busy
/// one said plainly, others with the server's details.
pub fn about_session(err: ClientError, id: Uuid) -> anyhow::Error {
    if let ClientError::Api { body, .. } = &err {
        // A session gone with its node comes with a sentence of its own.
        if body.code == "not_found" && body.error != "session not found" {
            return anyhow!("no open session {id}: {}", body.error);
        }
    }
    match err.code() {
        Some("not_found") => anyhow!("no open session {id} (it ended, or it is not yours)"),
        Some("session_busy") => anyhow!("session {id} is running a cell; try again when it ends"),
        _ => anyhow!("{}", with_details(&err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_env_option_splits_at_the_first_equals_sign() {
        assert_eq!(parse_env("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert_eq!(parse_env("A="), Ok(("A".into(), String::new())));
        assert!(parse_env("=x").is_err() && parse_env("A").is_err());
    }

    #[test]
    fn a_session_id_must_be_a_uuid() {
        assert!(parse_id("0190c3f0-0000-7000-8000-000000000000").is_ok());
        assert!(parse_id("nope").unwrap_err().contains("not a session id"));
    }
}
