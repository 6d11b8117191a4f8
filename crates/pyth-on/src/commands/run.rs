//! `pyth-on run FILE`: execute a file, or a project of `--file`s with an `--entry`, through a
//! running server; stream what it prints to this terminal, feed it this command's standard
//! input, bring its `--output` files back and exit with its exit code. With `--local`, run it
//! in a sandbox on this machine instead ([`local`]).

mod files;
mod local;
pub(crate) mod output;
mod stream;

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use pyth_on_client::ClientError;
use pyth_on_types::{ExecuteRequest, ExecuteResponse};

use stream::Ending;

/// The exit code after Ctrl-C, as a shell reports a command killed by SIGINT.
const INTERRUPTED: u8 = 130;

/// Run a file through a running server.
#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// The source file; leave it out with --entry.
    #[arg(
        value_name = "FILE",
        required_unless_present = "entry",
        conflicts_with = "entry"
    )]
    file: Option<PathBuf>,
    /// Language; default from the extension of FILE or --entry (.py, .js), else python.
    #[arg(long)]
    language: Option<String>,
    #[command(flatten)]
    server: super::credentials::ServerArgs,
    /// Wall-clock limit in milliseconds.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Memory limit in MiB.
    #[arg(long)]
    memory_mb: Option<u64>,
    /// Standard input for the program from this file; default: this command's standard input
    /// when it is not a terminal.
    #[arg(long, value_name = "PATH")]
    stdin_file: Option<PathBuf>,
    /// Give the run a file (as REMOTE, default its name) or a directory's files (under
    /// REMOTE, default at the top; symbolic links skipped) in its working directory;
    /// repeatable.
    #[arg(long = "file", value_name = "LOCAL[:REMOTE]")]
    files: Vec<String>,
    /// Run this one of the --file paths as the program instead of FILE.
    #[arg(long, value_name = "PATH")]
    entry: Option<String>,
    /// Bring back the files the run leaves matching this glob (relative to its working
    /// directory; `*`, `?`, `[set]`, `**`); repeatable.
    #[arg(long = "output", value_name = "PATTERN")]
    outputs: Vec<String>,
    /// A secret the run needs (only those named are injected; none named: the account's
    /// default, all or none); repeatable.
    #[arg(long = "secret", value_name = "NAME")]
    secrets: Vec<String>,
    /// Where --output files are written (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    output_dir: PathBuf,
    /// Replace files that exist in --output-dir.
    #[arg(long)]
    force: bool,
    /// Wait for the whole answer instead of streaming the output as it comes.
    #[arg(long)]
    no_stream: bool,
    /// Run in a sandbox on this machine, without a server (as root); the output is written
    /// when the program ends.
    #[arg(long, conflicts_with_all = ["files", "entry", "outputs", "secrets"])]
    local: bool,
    /// Arguments for the program.
    #[arg(last = true)]
    args: Vec<String>,
}

impl Cmd {
    /// Sends the run and mirrors the program's output and exit code.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let request = self.request()?;
        if self.local {
            return local::run(request).await;
        }
        let client = self.server.client()?;
        if self.no_stream {
            let result = client.execute(&request).await.map_err(refusal)?;
            let mut out = std::io::stdout().lock();
            out.write_all(result.output.as_bytes())
                .and_then(|()| out.flush())
                .context("writing to stdout")?;
            std::io::stderr().write_all(result.error.as_bytes())?;
            return self.finish(&result);
        }
        match stream::run(&client, &request).await? {
            Ending::Finished(result) => self.finish(&result),
            Ending::Failed(body) => Err(anyhow!(
                "the run failed in the sandbox: {} ({}, request {})",
                body.error,
                body.code,
                body.request_id
            )),
            Ending::Interrupted(Some(result)) => {
                self.finish(&result)?;
                Ok(ExitCode::from(INTERRUPTED))
            }
            Ending::Interrupted(None) => {
                eprintln!("pyth-on: interrupted");
                Ok(ExitCode::from(INTERRUPTED))
            }
        }
    }

    /// The request: the program, its files, input, limits and output patterns.
    fn request(&self) -> anyhow::Result<ExecuteRequest> {
        let code = match &self.file {
            Some(file) => std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?,
            None => String::new(),
        };
        let program = self
            .file
            .as_deref()
            .or(self.entry.as_deref().map(Path::new));
        let language = self
            .language
            .clone()
            .or_else(|| Some(language_of(program).into()));
        let files = files::collect(&self.files)?;
        Ok(ExecuteRequest {
            code,
            language,
            stdin: stdin_text(self.stdin_file.as_deref())?,
            args: Some(self.args.clone()),
            timeout_ms: self.timeout_ms,
            memory_mb: self.memory_mb,
            files: (!files.is_empty()).then_some(files),
            entry: self.entry.clone(),
            output_files: (!self.outputs.is_empty()).then(|| self.outputs.clone()),
            secrets: (!self.secrets.is_empty()).then(|| self.secrets.clone()),
            ..Default::default()
        })
    }

    /// Says what limits the run hit, writes its output files and answers its exit code.
    fn finish(&self, result: &ExecuteResponse) -> anyhow::Result<ExitCode> {
        if result.timed_out {
            eprintln!("pyth-on: the run hit its time limit");
        }
        if result.memory_exceeded {
            eprintln!("pyth-on: the run hit its memory limit");
        }
        if result.output_truncated {
            eprintln!("pyth-on: output was truncated");
        }
        if result.cancelled == Some(true) {
            eprintln!("pyth-on: the run was cancelled");
        }
        if !self.outputs.is_empty() {
            output::write_all(&self.output_dir, result, self.force)?;
        }
        Ok(exit_code(result.exit_code))
    }
}

/// The language a program's file name suggests: JavaScript for `.js`, `.mjs` and `.cjs`,
/// else Python.
fn language_of(program: Option<&Path>) -> &'static str {
    match program.and_then(Path::extension).and_then(|e| e.to_str()) {
        Some("js" | "mjs" | "cjs") => "javascript",
        _ => "python",
    }
}

/// The program's exit code as this command's: 255 past a byte, 1 below zero.
fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(if code > 255 { 255 } else { 1 }))
}

/// The run's standard input: `file`'s content, else this command's standard input unless it
/// is a terminal; `None` when there is none. It must be UTF-8 text (the API takes a string).
fn stdin_text(file: Option<&Path>) -> anyhow::Result<Option<String>> {
    let (bytes, source) = match file {
        Some(path) => (
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            path.display().to_string(),
        ),
        None if std::io::stdin().is_terminal() => return Ok(None),
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .context("reading standard input")?;
            (bytes, "standard input".to_string())
        }
    };
    if bytes.is_empty() {
        return Ok(None);
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| anyhow!("{source} is not UTF-8 text: a run's standard input must be"))
}

/// A request the server would not run (or could not be sent), as one clear error with the
/// field-level details the server gave that its message does not already say.
fn refusal(err: ClientError) -> anyhow::Error {
    if !matches!(err, ClientError::Api { .. }) {
        return anyhow::Error::new(err).context("sending the run");
    }
    anyhow!(
        "the server refused the run: {}",
        super::api_error::with_details(&err)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_follows_the_program_s_extension_and_defaults_to_python() {
        assert_eq!(language_of(Some(Path::new("app/main.mjs"))), "javascript");
        assert_eq!(language_of(Some(Path::new("main.js"))), "javascript");
        assert_eq!(language_of(Some(Path::new("main.py"))), "python");
        assert_eq!(language_of(Some(Path::new("script"))), "python");
        assert_eq!(language_of(None), "python");
    }

    #[test]
    fn exit_codes_outside_a_byte_become_255_above_and_1_below() {
        assert_eq!(exit_code(3), ExitCode::from(3));
        assert_eq!(exit_code(300), ExitCode::from(255));
        assert_eq!(exit_code(-1), ExitCode::from(1));
    }
}
