//! `pyth-on run FILE`: execute a file through a running server and print what it printed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyth_on_types::ExecuteRequest;

/// Run a file through a running server.
#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// The source file.
    file: PathBuf,
    /// Language; default from the extension (.py, .js), else python.
    #[arg(long)]
    language: Option<String>,
    /// Server URL.
    #[arg(long, env = "PYTH_ON_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key.
    #[arg(long, env = "PYTH_ON_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Wall-clock limit in milliseconds.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Arguments for the program.
    #[arg(last = true)]
    args: Vec<String>,
}

impl Cmd {
    /// Sends the file and mirrors the program's output and exit code.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let code = std::fs::read_to_string(&self.file)
            .with_context(|| format!("reading {}", self.file.display()))?;
        let language =
            self.language
                .or_else(|| match self.file.extension().and_then(|e| e.to_str()) {
                    Some("js" | "mjs" | "cjs") => Some("javascript".into()),
                    _ => Some("python".into()),
                });
        let client = pyth_on_client::Client::new(&self.url)?.with_api_key(self.api_key);
        let result = client
            .execute(&ExecuteRequest {
                code,
                language,
                args: Some(self.args),
                timeout_ms: self.timeout_ms,
                ..Default::default()
            })
            .await?;
        std::io::stdout().write_all(result.output.as_bytes())?;
        std::io::stderr().write_all(result.error.as_bytes())?;
        if result.timed_out {
            eprintln!("pyth-on: the run hit its time limit");
        }
        if result.memory_exceeded {
            eprintln!("pyth-on: the run hit its memory limit");
        }
        if result.output_truncated {
            eprintln!("pyth-on: output was truncated");
        }
        Ok(ExitCode::from(
            u8::try_from(result.exit_code.clamp(0, 255)).unwrap_or(1),
        ))
    }
}
