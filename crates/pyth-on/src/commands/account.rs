//! `pyth-on secrets`, `pyth-on packages`, `pyth-on audit` and `pyth-on usage`: the account's
//! secrets (values read from standard input, never from the command line where `ps` and the
//! shell history would keep them), persistent packages, audit log and use of the quotas,
//! through a server.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use pyth_on_client::ClientError;

use super::api_error::with_details;
use super::credentials::ServerArgs;

fn refused(err: ClientError) -> anyhow::Error {
    anyhow!("the server refused it: {}", with_details(&err))
}

/// The account's secrets.
#[derive(Debug, clap::Args)]
pub struct SecretsCmd {
    #[command(subcommand)]
    action: SecretsAction,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, clap::Subcommand)]
enum SecretsAction {
    /// Set NAME to the value on standard input (one trailing newline removed).
    Set {
        /// The name (capitals, digits, underscores).
        name: String,
    },
    /// List names, versions and times (never values).
    List,
    /// Delete NAME.
    Rm {
        /// The name.
        name: String,
    },
}

impl SecretsCmd {
    /// Runs the subcommand.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let client = self.server.client()?;
        let mut out = std::io::stdout().lock();
        match self.action {
            SecretsAction::Set { name } => {
                let mut value = zeroize::Zeroizing::new(String::new());
                std::io::stdin().read_to_string(&mut value)?;
                let value = value.strip_suffix('\n').unwrap_or(&value);
                if value.is_empty() {
                    bail!("no value on standard input (e.g. `printf %s \"$TOKEN\" | pyth-on secrets set NAME`)");
                }
                let meta = client.put_secret(&name, value).await.map_err(refused)?;
                writeln!(out, "{} is at version {}", meta.name, meta.version)?;
            }
            SecretsAction::List => {
                for s in client.list_secrets().await.map_err(refused)?.secrets {
                    writeln!(
                        out,
                        "{}\tv{}\t{}",
                        s.name,
                        s.version,
                        super::rfc3339(s.updated_at)
                    )?;
                }
            }
            SecretsAction::Rm { name } => {
                client.delete_secret(&name).await.map_err(refused)?;
                writeln!(out, "{name} is deleted")?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The account's persistent packages.
#[derive(Debug, clap::Args)]
pub struct PackagesCmd {
    #[command(subcommand)]
    action: PackagesAction,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, clap::Subcommand)]
enum PackagesAction {
    /// Add a spec (`requests>=2`, `lodash@^4`); answers once its environment is built.
    Add {
        /// The spec.
        spec: String,
        /// `python` (default) or `javascript`.
        #[arg(long)]
        language: Option<String>,
    },
    /// List the packages and each language's environment.
    #[command(visible_alias = "list")]
    Ls,
    /// Remove a package by name.
    Rm {
        /// The name.
        name: String,
        /// `python` (default) or `javascript`.
        #[arg(long)]
        language: Option<String>,
    },
}

impl PackagesCmd {
    /// Runs the subcommand.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let client = self.server.client()?;
        let mut out = std::io::stdout().lock();
        match self.action {
            PackagesAction::Add { spec, language } => {
                let added = client.add_package(&spec, language.as_deref()).await;
                let added = added.map_err(refused)?;
                writeln!(out, "{} ({}) is installed", added.spec, added.language)?;
            }
            PackagesAction::Ls => {
                let list = client.list_packages().await.map_err(refused)?;
                for p in &list.packages {
                    writeln!(out, "{}\t{}", p.language, p.spec)?;
                }
                let envs = [
                    ("python", &list.environments.python),
                    ("javascript", &list.environments.javascript),
                ];
                for (language, env) in envs {
                    let error = env
                        .error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default();
                    writeln!(out, "{language} environment: {}{error}", env.status)?;
                }
            }
            PackagesAction::Rm { name, language } => {
                client
                    .delete_package(&name, language.as_deref())
                    .await
                    .map_err(refused)?;
                writeln!(out, "{name} is removed")?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The account's audit log, newest first.
#[derive(Debug, clap::Args)]
pub struct AuditCmd {
    /// Entries to show (1 to 200).
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Only actions starting with this (`auth.`, `execute`, `admin.`).
    #[arg(long)]
    action: Option<String>,
    /// Recompute the hash chain instead and say whether it holds.
    #[arg(long, conflicts_with_all = ["limit", "action"])]
    verify: bool,
    #[command(flatten)]
    server: ServerArgs,
}

impl AuditCmd {
    /// Prints the entries, or the chain's verification (exit 1 when it is broken).
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let client = self.server.client()?;
        let mut out = std::io::stdout().lock();
        if self.verify {
            let v = client.verify_audit().await.map_err(refused)?;
            if v.valid {
                writeln!(out, "the chain of {} entries is intact", v.entries)?;
                return Ok(ExitCode::SUCCESS);
            }
            let at = v.first_invalid.map(|id| id.to_string()).unwrap_or_default();
            writeln!(out, "the chain is BROKEN at entry {at}")?;
            return Ok(ExitCode::FAILURE);
        }
        let page = client.audit(Some(self.limit), None, self.action.as_deref());
        for e in page.await.map_err(refused)?.entries {
            let resource = e.resource.unwrap_or_default();
            writeln!(
                out,
                "{}\t{}\t{}\t{resource}",
                e.timestamp, e.action, e.outcome
            )?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The account's use of its quotas today.
#[derive(Debug, clap::Args)]
pub struct UsageCmd {
    #[command(flatten)]
    server: ServerArgs,
}

impl UsageCmd {
    /// Prints each quota's use and limit.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let usage = self.server.client()?.usage().await.map_err(refused)?;
        let mut out = std::io::stdout().lock();
        let limit = |l: Option<u64>| l.map_or_else(|| "no limit".to_string(), |l| l.to_string());
        writeln!(
            out,
            "day {} (resets {})",
            usage.day,
            super::rfc3339(usage.reset_at)
        )?;
        for (name, q) in [
            ("runs", &usage.runs),
            ("CPU seconds", &usage.cpu_seconds),
            ("sessions", &usage.sessions),
            ("storage bytes", &usage.storage_bytes),
        ] {
            writeln!(out, "{name:<14} {} of {}", q.used, limit(q.limit))?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
