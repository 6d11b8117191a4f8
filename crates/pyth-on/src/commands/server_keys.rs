//! `pyth-on server-keys`: rotate the secrets key (re-wrapping every data key, never touching values),
//! retire an old version once nothing uses it, list versions.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use pyth_on_crypto::{Keyring, SealedSecret};

/// Manage the server's secrets keys.
#[derive(Debug, clap::Args)]
pub struct Cmd {
    #[command(subcommand)]
    action: Action,
    /// Data directory of the server.
    #[arg(
        long,
        env = "PYTH_ON_DATA_DIR",
        default_value = "./pyth-on-data",
        global = true
    )]
    data_dir: PathBuf,
    /// Key directory; default `<data-dir>/keys`.
    #[arg(long, env = "PYTH_ON_KEY_DIR", global = true)]
    key_dir: Option<PathBuf>,
    /// Database; default SQLite in the data directory.
    #[arg(long, env = "PYTH_ON_DATABASE_URL", global = true)]
    database_url: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Add a new key version, make it current and re-wrap every secret's data key under it.
    Rotate,
    /// Delete an old key version, first re-wrapping under the current key any data key it
    /// still wraps.
    Retire {
        /// The version to retire.
        version: u32,
    },
    /// Show key versions and how many secrets each wraps.
    List,
}

impl Cmd {
    /// Runs the subcommand.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let key_dir = self
            .key_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys"));
        let url = self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rw",
                self.data_dir.join("pyth-on.db").display()
            )
        });
        // The server's keys, never new ones: a wrong directory must not pass for an empty one.
        let mut keyring = Keyring::load(&key_dir).with_context(|| {
            format!(
                "loading the server's keys from {} (give the server's --data-dir or --key-dir)",
                key_dir.display()
            )
        })?;
        let store = pyth_on_store::connect(&url)
            .await
            .context("opening the database")?;
        let rows = store.all_sealed_secrets().await?;
        let mut out = std::io::stdout().lock();
        use std::io::Write;
        match self.action {
            Action::Rotate => {
                let version = keyring.rotate(&key_dir)?;
                let (rewrapped, skipped) = rewrap(store.as_ref(), &keyring, rows).await?;
                writeln!(out, "secrets key v{version} is current; {rewrapped} data keys re-wrapped ({skipped} changed meanwhile)")?;
                writeln!(
                    out,
                    "running server nodes seal new secrets under v{version} from now on and reload their keys within 10 s; then retire older versions"
                )?;
            }
            Action::Retire { version } => {
                if version == keyring.current_version() {
                    bail!("v{version} is the current key; rotate first");
                }
                // Whatever it still wraps (a secret written under it while the rotation ran)
                // is re-wrapped under the current key first: nothing is lost.
                let still: Vec<_> = rows
                    .into_iter()
                    .filter(|r| r.key_version == version)
                    .collect();
                let (rewrapped, _) = rewrap(store.as_ref(), &keyring, still).await?;
                let left = store
                    .all_sealed_secrets()
                    .await?
                    .iter()
                    .filter(|r| r.key_version == version)
                    .count();
                if left > 0 {
                    bail!("v{version} still wraps {left} data keys being written now; try again");
                }
                keyring.retire(&key_dir, version)?;
                writeln!(
                    out,
                    "secrets key v{version} retired ({rewrapped} data keys re-wrapped first)"
                )?;
            }
            Action::List => {
                for v in keyring.versions() {
                    let n = rows.iter().filter(|r| r.key_version == v).count();
                    let current = if v == keyring.current_version() {
                        " (current)"
                    } else {
                        ""
                    };
                    writeln!(out, "v{v}{current}: {n} secrets")?;
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Re-wraps the data keys of `rows` under the keyring's current key (values untouched).
/// Returns (re-wrapped, skipped: replaced meanwhile, so already sealed under a newer key).
async fn rewrap(
    store: &dyn pyth_on_store::Store,
    keyring: &Keyring,
    rows: Vec<pyth_on_store::SealedSecretRow>,
) -> anyhow::Result<(usize, usize)> {
    let (mut rewrapped, mut skipped) = (0usize, 0usize);
    for row in rows {
        let sealed = SealedSecret {
            key_version: row.key_version,
            wrapped_key: row.wrapped_key.clone(),
            nonce: row.nonce.clone(),
            ciphertext: row.ciphertext.clone(),
        };
        let new = pyth_on_crypto::rewrap(keyring, row.user_id, &row.name, row.version, &sealed)
            .with_context(|| format!("re-wrapping a secret of user {}", row.user_id))?;
        let updated = store
            .update_wrapped_key(
                row.user_id,
                &row.name,
                row.version,
                new.key_version,
                &new.wrapped_key,
            )
            .await?;
        if updated {
            rewrapped += 1;
        } else {
            skipped += 1;
        }
    }
    Ok((rewrapped, skipped))
}
