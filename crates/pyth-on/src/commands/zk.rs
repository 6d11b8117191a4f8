//! `pyth-on zk`: encrypt a file locally into a zkcode v1 payload (`encrypt` writes it out,
//! `put` stores it), run stored encrypted code, list and delete it. The master password comes
//! from `PYTH_ON_MASTER_PASSWORD`, else a prompt without echo on a terminal, else the first
//! line of standard input: never from argv (it would show in `ps`).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use pyth_on_client::Client;
use pyth_on_crypto::zkcode::{self, KdfParams, ZkPayload};
use pyth_on_types::ZkExecuteRequest;
use zeroize::Zeroizing;

/// Zero-knowledge code: encrypt locally, store, run, list, delete.
#[derive(Debug, clap::Args)]
pub struct Cmd {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    server: super::credentials::ServerArgs,
}

/// What to encrypt and under which name.
#[derive(Debug, clap::Args)]
struct Source {
    /// The source file.
    file: PathBuf,
    /// Name to store it under (bound into the payload); default: the file name.
    #[arg(long)]
    name: Option<String>,
    /// Language; default from the extension (.js → javascript, else python).
    #[arg(long)]
    language: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Encrypt FILE on this machine and store the payload (the server never sees the code).
    Put(Source),
    /// Encrypt FILE on this machine and write the payload (JSON) to standard output or --out,
    /// without storing it (the account's id is still asked of the server: it is bound in).
    Encrypt {
        #[command(flatten)]
        source: Source,
        /// Write the payload here instead of standard output.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// Run stored encrypted code; its output and exit code become this command's.
    Run {
        /// The stored name.
        name: String,
        /// Arguments for the program.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// List the stored programs (name, language, size, last change).
    #[command(visible_alias = "list")]
    Ls,
    /// Delete a stored program.
    Rm {
        /// The stored name.
        name: String,
    },
}

fn master_password() -> anyhow::Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var("PYTH_ON_MASTER_PASSWORD") {
        return Ok(Zeroizing::new(p));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(Zeroizing::new(rpassword::prompt_password(
            "Master password: ",
        )?));
    }
    let mut line = Zeroizing::new(String::new());
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the master password from stdin")?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string());
    if trimmed.is_empty() {
        bail!("no master password: set PYTH_ON_MASTER_PASSWORD or pass it on standard input");
    }
    Ok(trimmed)
}

impl Source {
    /// The payload of the file, encrypted here for the account `client` signs in as; and its
    /// name.
    async fn encrypt(self, client: &Client) -> anyhow::Result<(ZkPayload, String)> {
        let file = self.file;
        let code = Zeroizing::new(
            std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
        );
        let name = match self.name {
            Some(n) => n,
            None => file
                .file_name()
                .and_then(|n| n.to_str())
                .context("the file has no usable name; pass --name")?
                .to_string(),
        };
        let language = self.language.unwrap_or_else(|| language_of(&file).into());
        let password = master_password()?;
        // The payload is bound to the owner's id and the name: ask the server who we are.
        let me = client.me().await?;
        let payload = tokio::task::spawn_blocking(move || {
            let params = KdfParams::default();
            zkcode::encrypt(&code, &password, me.id, &name, &language, params).map(|p| (p, name))
        })
        .await?
        .map_err(|e| anyhow::anyhow!("encrypting: {e}"))?;
        Ok(payload)
    }
}

fn language_of(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("js" | "mjs" | "cjs") => "javascript",
        _ => "python",
    }
}

impl Cmd {
    /// Runs the subcommand.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let client = self.server.client()?;
        let mut out = std::io::stdout().lock();
        match self.action {
            Action::Put(source) => {
                let (payload, name) = source.encrypt(&client).await?;
                let meta = client.put_zk_code(&name, &payload.to_json()).await?;
                let (name, size, language) = (meta.name, meta.size, meta.language);
                writeln!(
                    out,
                    "stored {name} ({size} bytes of {language}, encrypted on this machine)"
                )?;
            }
            Action::Encrypt { source, out: path } => {
                let (payload, _) = source.encrypt(&client).await?;
                let json = serde_json::to_string_pretty(&payload.to_json())?;
                match path {
                    Some(path) => std::fs::write(&path, json + "\n")
                        .with_context(|| format!("writing {}", path.display()))?,
                    None => writeln!(out, "{json}")?,
                }
            }
            Action::Run { name, args } => return run(&client, &name, args).await,
            Action::Ls => {
                for item in client.list_zk_code().await?.items {
                    let (name, language, size) = (item.name, item.language, item.size);
                    writeln!(
                        out,
                        "{name}\t{language}\t{size} bytes\t{}",
                        super::rfc3339(item.updated_at)
                    )?;
                }
            }
            Action::Rm { name } => {
                client.delete_zk_code(&name).await?;
                writeln!(out, "{name} is deleted")?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Runs stored code `name`; its output and exit code become this command's.
async fn run(client: &Client, name: &str, args: Vec<String>) -> anyhow::Result<ExitCode> {
    let request = ZkExecuteRequest {
        master_password: master_password()?,
        args: Some(args),
        ..Default::default()
    };
    let result = client.zk_execute(name, &request).await?;
    std::io::stdout().write_all(result.output.as_bytes())?;
    std::io::stderr().write_all(result.error.as_bytes())?;
    Ok(ExitCode::from(
        u8::try_from(result.exit_code.clamp(0, 255)).unwrap_or(1),
    ))
}
