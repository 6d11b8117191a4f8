//! `pyth-on session exec ID [CODE | --file F | -]`: one cell, its output streamed to this
//! terminal as it comes (or the whole answer as JSON), its results shown after. Ctrl-C asks
//! the server to interrupt the cell (the session and its variables stay); a second Ctrl-C
//! leaves without waiting for the answer.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use pyth_on_client::{CellEvent, Client};
use pyth_on_types::{CellRequest, CellResponse};
use uuid::Uuid;

use super::{about_session, parse_id, results};

/// Options of `session exec`.
#[derive(Debug, clap::Args)]
pub struct Exec {
    /// The session's id.
    #[arg(value_name = "ID", value_parser = parse_id)]
    id: Uuid,
    /// The cell's code; `-` reads it from standard input.
    #[arg(value_name = "CODE", conflicts_with = "file")]
    code: Option<String>,
    /// Read the cell's code from this file.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Wall-clock limit of the cell in milliseconds (past it the cell is interrupted and the
    /// session goes on).
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// Save image results (PNG, JPEG, GIF, WebP, SVG) in this directory (created if missing), as
    /// result-N.EXT with the first N free; without it they are not saved.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// Print the cell's whole answer as JSON when it ends, instead of streaming.
    #[arg(long)]
    json: bool,
    /// Wait for the whole answer instead of streaming the output as it comes.
    #[arg(long)]
    no_stream: bool,
}

impl Exec {
    /// Runs the cell and answers this command's exit code: 1 when the cell raised, the
    /// interpreter's when it ended with the cell, else 0.
    pub async fn run(self, client: &Client) -> anyhow::Result<ExitCode> {
        let request = CellRequest {
            code: self.code()?,
            timeout_ms: self.timeout_ms,
        };
        let answer = if self.json || self.no_stream {
            let whole = async {
                let answer = client.execute_cell(self.id, &request).await;
                answer.map_err(|e| about_session(e, self.id))
            };
            let answer = interruptible(client, self.id, whole).await?;
            if !self.json {
                write_out(&answer.stdout, &answer.stderr)?;
            }
            answer
        } else {
            interruptible(client, self.id, stream(client, self.id, &request)).await?
        };
        if self.json {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
        } else {
            results::show(&answer)?;
        }
        if let Some(dir) = &self.output_dir {
            results::save_images(dir, &answer)?;
        } else if !self.json {
            results::mention_unsaved_images(&answer);
        }
        Ok(results::exit_code(&answer))
    }

    /// The cell's code: CODE, standard input for `-` (or when CODE is left out and standard
    /// input is not a terminal), or --file's content.
    fn code(&self) -> anyhow::Result<String> {
        if let Some(file) = &self.file {
            return std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()));
        }
        match self.code.as_deref() {
            Some("-") => read_stdin(),
            Some(code) => Ok(code.to_string()),
            None if !std::io::stdin().is_terminal() => read_stdin(),
            None => bail!("give the cell's code: CODE, --file FILE, or - to read standard input"),
        }
    }
}

fn read_stdin() -> anyhow::Result<String> {
    let mut code = String::new();
    std::io::stdin()
        .lock()
        .read_to_string(&mut code)
        .context("reading the cell's code from standard input (it must be UTF-8)")?;
    Ok(code)
}

/// Awaits `cell`; on Ctrl-C asks the server to interrupt it (`POST .../interrupt`) and goes
/// on waiting for its answer, which then says `interrupted`; a second Ctrl-C gives up.
async fn interruptible<T>(
    client: &Client,
    id: Uuid,
    cell: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::pin!(cell);
    let mut asked = false;
    loop {
        tokio::select! {
            answer = &mut cell => return answer,
            signal = tokio::signal::ctrl_c() => {
                signal.context("listening for Ctrl-C")?;
                if asked {
                    bail!("left without the cell's answer (the session goes on)");
                }
                asked = true;
                eprintln!("pyth-on: interrupting the cell (Ctrl-C again to leave without waiting)");
                match client.interrupt_session(id).await {
                    Ok(r) if !r.interrupted => eprintln!("pyth-on: no cell of {id} is running"),
                    Ok(_) => {}
                    Err(e) => eprintln!("pyth-on: could not interrupt the cell: {e}"),
                }
            }
        }
    }
}

/// Streams the cell's output to this terminal until its answer arrives. A server that does
/// not stream cells answers the whole cell at once (no `start` event): its output is written
/// then.
async fn stream(client: &Client, id: Uuid, request: &CellRequest) -> anyhow::Result<CellResponse> {
    let mut events = client
        .execute_cell_stream(id, request)
        .await
        .map_err(|e| about_session(e, id))?;
    let mut started = false;
    loop {
        let event = match events.next().await {
            None => bail!("the server closed the stream before the cell's answer"),
            Some(event) => event.context("reading the cell's events")?,
        };
        match event {
            CellEvent::Start { .. } => started = true,
            CellEvent::Stdout(text) => write_out(&text, "")?,
            CellEvent::Stderr(text) => write_out("", &text)?,
            CellEvent::Result(answer) => {
                if !started {
                    write_out(&answer.stdout, &answer.stderr)?;
                }
                return Ok(*answer);
            }
            CellEvent::Error(body) => {
                return Err(anyhow!(
                    "the cell failed in the sandbox: {} ({}, request {})",
                    body.error,
                    body.code,
                    body.request_id
                ))
            }
        }
    }
}

/// Writes `stdout` and `stderr` text through, flushed.
fn write_out(stdout: &str, stderr: &str) -> anyhow::Result<()> {
    if !stdout.is_empty() {
        let mut out = std::io::stdout().lock();
        out.write_all(stdout.as_bytes())
            .and_then(|()| out.flush())
            .context("writing to stdout")?;
    }
    if !stderr.is_empty() {
        let mut err = std::io::stderr().lock();
        err.write_all(stderr.as_bytes())
            .and_then(|()| err.flush())
            .context("writing to stderr")?;
    }
    Ok(())
}
