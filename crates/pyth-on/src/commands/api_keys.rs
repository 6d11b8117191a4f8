//! `pyth-on keys create|list|revoke`: the account's API keys. Key management needs an access
//! token (a leaked key must not mint more), so these spend the saved sign-in of `pyth-on login`
//! (its refresh token) rather than the saved key.

use std::io::Write;
use std::process::ExitCode;

use anyhow::anyhow;
use uuid::Uuid;

use super::api_error::with_details;
use super::credentials::ServerArgs;

/// The account's API keys.
#[derive(Debug, clap::Args)]
pub struct Cmd {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create a key named NAME; it is printed once.
    Create {
        /// A label (1 to 64 characters).
        name: String,
    },
    /// List the live keys (id, name, prefix, last use; never the keys).
    List,
    /// Revoke a key by id: it stops working at once.
    Revoke {
        /// The key's id (from `list`).
        id: Uuid,
    },
}

impl Cmd {
    /// Runs the subcommand with an access token from the saved sign-in.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let client = self.server.token_client().await?;
        let refused = |e| anyhow!("the server refused it: {}", with_details(&e));
        let mut out = std::io::stdout().lock();
        match self.action {
            Action::Create { name } => {
                let created = client.create_key(&name).await.map_err(refused)?;
                writeln!(out, "{}\t{}", created.id, created.api_key)?;
                eprintln!("pyth-on: the key is shown this once; keep it secret");
            }
            Action::List => {
                for k in client.list_keys().await.map_err(refused)?.keys {
                    let used = k
                        .last_used_at
                        .map_or_else(|| "never used".into(), super::rfc3339);
                    writeln!(out, "{}\t{}\t{}…\t{used}", k.id, k.name, k.prefix)?;
                }
            }
            Action::Revoke { id } => {
                client.revoke_key(id).await.map_err(refused)?;
                writeln!(out, "{id} is revoked")?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
