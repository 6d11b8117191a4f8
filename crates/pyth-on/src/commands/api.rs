//! `pyth-on api METHOD PATH`: any route of the API with the saved login (or `--api-key`), for
//! what has no command of its own (generate, egress allow-lists, account settings, sign-ins,
//! admin routes...). The answer's body is printed (JSON pretty-printed); a refusal is its error
//! envelope on stderr and exit status 1.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::{bail, Context};
use reqwest::Method;

use super::credentials::ServerArgs;

/// Call any API route.
#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    method: String,
    /// The path, e.g. `/api/v1/usage` or `/api/v1/egress/allow`.
    path: String,
    /// A JSON body; `-` reads it from standard input.
    #[arg(long, short = 'd')]
    data: Option<String>,
    /// Authenticate with an access token from the saved sign-in (routes that refuse API keys:
    /// account changes, keys, admin).
    #[arg(long)]
    jwt: bool,
    #[command(flatten)]
    server: ServerArgs,
}

impl Cmd {
    /// Sends the request and prints the answer.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let method = Method::from_bytes(self.method.to_ascii_uppercase().as_bytes())
            .context("not an HTTP method")?;
        if !self.path.starts_with("/api/") {
            bail!("the path must start with /api/ (e.g. /api/v1/usage)");
        }
        let client = if self.jwt {
            self.server.token_client().await?
        } else {
            self.server.client()?
        };
        let mut request = client.request(method, &self.path);
        if let Some(data) = self.body()? {
            let json: serde_json::Value =
                serde_json::from_str(&data).context("--data is not JSON")?;
            request = request.json(&json);
        }
        let response = request.send().await.context("sending the request")?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let shown = match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(json) => serde_json::to_string_pretty(&json)?,
            Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
        };
        if status.is_success() {
            if !shown.is_empty() {
                writeln!(std::io::stdout().lock(), "{shown}")?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        writeln!(std::io::stderr().lock(), "pyth-on: {status}\n{shown}")?;
        Ok(ExitCode::FAILURE)
    }

    fn body(&self) -> anyhow::Result<Option<String>> {
        match self.data.as_deref() {
            Some("-") => {
                let mut data = String::new();
                std::io::stdin().read_to_string(&mut data)?;
                Ok(Some(data))
            }
            other => Ok(other.map(str::to_string)),
        }
    }
}
