//! `pyth-on login` and `pyth-on logout`: sign in once, and the client commands (`run`,
//! `session`, `zk`) use the saved server and key ([`super::credentials`]).
//!
//! Signing in with email and password makes an API key for this machine (named `cli@HOST`)
//! and saves that, never the password or a token: the key can be revoked on its own (`DELETE
//! /api/v1/keys/{id}`, the console's API keys page). The password is read without echo on a
//! terminal, else as one line of standard input.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::anyhow;
use pyth_on_client::Client;
use zeroize::Zeroizing;

use super::credentials::{self, Saved, DEFAULT_URL};

/// Sign in and save a key for the client commands.
#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// Server URL.
    #[arg(long, env = "PYTH_ON_URL", default_value = DEFAULT_URL)]
    url: String,
    /// The account's email (asked for when missing).
    #[arg(long)]
    email: Option<String>,
    /// Save an existing API key read from standard input instead of signing in.
    #[arg(long, conflicts_with = "email")]
    api_key_stdin: bool,
}

/// Forget the saved login.
#[derive(Debug, clap::Args)]
pub struct LogoutCmd {}

impl Cmd {
    /// Signs in (or checks the given key), saves the key, says where.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let client = Client::new(&self.url)?;
        let (api_key, email) = if self.api_key_stdin {
            let key = read_line("API key: ", false)?;
            let me = client.with_api_key(key.as_str()).me().await;
            let me = me.map_err(|e| {
                anyhow!(
                    "the server refused the key: {}",
                    super::api_error::with_details(&e)
                )
            })?;
            (key.to_string(), me.email)
        } else {
            let email = match self.email {
                Some(email) => email,
                None => read_line("Email: ", false)?.to_string(),
            };
            (new_key(&client, &email).await?, email)
        };
        let saved = Saved {
            url: self.url,
            api_key,
        };
        let path = credentials::save(&saved)?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "signed in to {} as {email}; key saved in {}",
            saved.url,
            path.display()
        )?;
        Ok(ExitCode::SUCCESS)
    }
}

impl LogoutCmd {
    /// Removes the saved login.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let removed = credentials::remove()?;
        let said = if removed {
            "the saved key is forgotten (it still works until revoked: `DELETE /api/v1/keys/{id}`)"
        } else {
            "no saved login"
        };
        writeln!(std::io::stdout().lock(), "{said}")?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Signs in as `email` and makes an API key named for this machine.
async fn new_key(client: &Client, email: &str) -> anyhow::Result<String> {
    let password = read_line("Password: ", true)?;
    let auth = client
        .login(email, &password)
        .await
        .map_err(|e| anyhow!("signing in: {}", super::api_error::with_details(&e)))?;
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let name = format!("cli@{}", host.trim())
        .chars()
        .take(64)
        .collect::<String>();
    let created = client.with_token(auth.token).create_key(&name).await;
    let created = created.map_err(|e| {
        anyhow!(
            "creating an API key for this machine: {}",
            super::api_error::with_details(&e)
        )
    })?;
    Ok(created.api_key)
}

/// One line: from the terminal (without echo when `secret`), else from standard input.
fn read_line(prompt: &str, secret: bool) -> anyhow::Result<Zeroizing<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() && secret {
        return Ok(Zeroizing::new(rpassword::prompt_password(prompt)?));
    }
    if stdin.is_terminal() {
        eprint!("{prompt}");
    }
    let mut line = Zeroizing::new(String::new());
    stdin.lock().read_line(&mut line)?;
    let trimmed = line.trim_end_matches(['\r', '\n']).to_string();
    if trimmed.is_empty() {
        return Err(anyhow!(
            "nothing read for {}",
            prompt.trim_end_matches([':', ' '])
        ));
    }
    Ok(Zeroizing::new(trimmed))
}
