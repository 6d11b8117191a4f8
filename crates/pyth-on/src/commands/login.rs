//! `pyth-on login` and `pyth-on logout`: sign in once, and the client commands (`run`,
//! `session`, `zk`) use the saved server and key ([`super::credentials`]).
//!
//! Signing in with email and password makes an API key for this machine (named `cli@HOST`)
//! and saves it with the sign-in's refresh token (for `pyth-on keys`, which needs an access
//! token), never the password: the key can be revoked on its own (`pyth-on keys revoke`, the
//! console's API keys page), the sign-in ended from the sign-ins list. The password is read
//! without echo on a terminal, else as one line of standard input.

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
        let (api_key, email, refresh_token) = if self.api_key_stdin {
            let key = read_line("API key: ", false)?;
            let me = client.with_api_key(key.as_str()).me().await;
            let me = me.map_err(|e| {
                anyhow!(
                    "the server refused the key: {}",
                    super::api_error::with_details(&e)
                )
            })?;
            (key.to_string(), me.email, None)
        } else {
            let email = match self.email {
                Some(email) => email,
                None => read_line("Email: ", false)?.to_string(),
            };
            let (key, refresh) = new_key(&client, &email).await?;
            (key, email, Some(refresh))
        };
        let saved = Saved {
            url: self.url,
            api_key,
            refresh_token,
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
    /// Ends the saved sign-in on the server (when there is one) and removes the saved login.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let saved = credentials::load()?;
        let mut out = std::io::stdout().lock();
        let Some(saved) = saved else {
            writeln!(out, "no saved login")?;
            return Ok(ExitCode::SUCCESS);
        };
        if let Some(refresh) = &saved.refresh_token {
            // Best effort: a server that is gone must not keep the login on this machine.
            if let Ok(client) = Client::new(&saved.url) {
                let _ = client.logout(refresh).await;
            }
        }
        credentials::remove()?;
        let said = "signed out; the saved key is forgotten (it works until revoked: `pyth-on keys revoke`)";
        writeln!(out, "{said}")?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Signs in as `email` and makes an API key named for this machine; answers it and the
/// sign-in's refresh token.
async fn new_key(client: &Client, email: &str) -> anyhow::Result<(String, String)> {
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
    let created = client
        .with_token(auth.token.clone())
        .create_key(&name)
        .await;
    let created = created.map_err(|e| {
        anyhow!(
            "creating an API key for this machine: {}",
            super::api_error::with_details(&e)
        )
    })?;
    Ok((created.api_key, auth.refresh_token))
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
        let what = prompt.trim_end_matches([':', ' ']);
        if stdin.is_terminal() {
            return Err(anyhow!("nothing read for {what}"));
        }
        return Err(anyhow!(
            "nothing read for {what} on standard input (not a terminal: it is read one line \
             per question, the email first, then the password)"
        ));
    }
    Ok(Zeroizing::new(trimmed))
}
