//! `pyth-on zk`: encrypt a file locally into a zkcode v1 payload and store it, or run stored
//! encrypted code. The master password comes from `PYTH_ON_MASTER_PASSWORD` or, when that is
//! unset, the first line of standard input: never from argv (it would show in `ps`).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use pyth_on_crypto::zkcode::{self, KdfParams};
use pyth_on_types::ZkExecuteRequest;
use zeroize::Zeroizing;

/// Zero-knowledge code: encrypt locally, store, run.
#[derive(Debug, clap::Args)]
pub struct Cmd {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    server: super::credentials::ServerArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Encrypt FILE on this machine and store the payload (the server never sees the code).
    Put {
        /// The source file.
        file: PathBuf,
        /// Name to store it under; default: the file name.
        #[arg(long)]
        name: Option<String>,
        /// Language; default from the extension (.js → javascript, else python).
        #[arg(long)]
        language: Option<String>,
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
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the master password from stdin")?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string());
    if trimmed.is_empty() {
        bail!("no master password: set PYTH_ON_MASTER_PASSWORD or pass it on standard input");
    }
    Ok(trimmed)
}

impl Cmd {
    /// Runs the subcommand.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let client = self.server.client()?;
        match self.action {
            Action::Put {
                file,
                name,
                language,
            } => {
                let code = Zeroizing::new(
                    std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
                );
                let name = match name {
                    Some(n) => n,
                    None => file
                        .file_name()
                        .and_then(|n| n.to_str())
                        .context("the file has no usable name; pass --name")?
                        .to_string(),
                };
                let language =
                    language.unwrap_or_else(|| match file.extension().and_then(|e| e.to_str()) {
                        Some("js" | "mjs" | "cjs") => "javascript".into(),
                        _ => "python".into(),
                    });
                let password = master_password()?;
                // The payload is bound to the owner's id and the name: ask the server who we are.
                let me = client.me().await?;
                let payload = tokio::task::spawn_blocking(move || {
                    zkcode::encrypt(
                        &code,
                        &password,
                        me.id,
                        &name,
                        &language,
                        KdfParams::default(),
                    )
                    .map(|p| (p, name))
                })
                .await?
                .map_err(|e| anyhow::anyhow!("encrypting: {e}"))?;
                let (payload, name) = payload;
                let meta = client.put_zk_code(&name, &payload.to_json()).await?;
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "stored {} ({} bytes of {}, encrypted on this machine)",
                    meta.name, meta.size, meta.language
                )?;
                Ok(ExitCode::SUCCESS)
            }
            Action::Ls => {
                let mut out = std::io::stdout().lock();
                for item in client.list_zk_code().await?.items {
                    let (name, language, size) = (item.name, item.language, item.size);
                    writeln!(out, "{name}\t{language}\t{size} bytes\t{}", item.updated_at)?;
                }
                Ok(ExitCode::SUCCESS)
            }
            Action::Rm { name } => {
                client.delete_zk_code(&name).await?;
                writeln!(std::io::stdout().lock(), "{name} is deleted")?;
                Ok(ExitCode::SUCCESS)
            }
            Action::Run { name, args } => {
                let password = master_password()?;
                let result = client
                    .zk_execute(
                        &name,
                        &ZkExecuteRequest {
                            master_password: password,
                            args: Some(args),
                            ..Default::default()
                        },
                    )
                    .await?;
                std::io::stdout().write_all(result.output.as_bytes())?;
                std::io::stderr().write_all(result.error.as_bytes())?;
                Ok(ExitCode::from(
                    u8::try_from(result.exit_code.clamp(0, 255)).unwrap_or(1),
                ))
            }
        }
    }
}
