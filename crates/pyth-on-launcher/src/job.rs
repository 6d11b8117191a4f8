//! What a run asks of the launcher ([`Job`], [`ZkJob`]) and what it gets back ([`RunOutput`],
//! [`LaunchError`]).

use std::path::PathBuf;
use std::time::Duration;

use pyth_on_sandbox::protocol::{
    Bind, EgressSpec, EnvVar, FrameError, InputFile, JobResult, JobSpec, Language, Limits,
    OutputSpec, SandboxOptions, ZkSpec,
};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::runtimes::Runtimes;

/// Encrypted code for a zero-knowledge run: decrypted inside the sandbox, never here.
///
/// The password travels only in the `Job` frame over the runner's stdin pipe (never argv or
/// the environment); `Debug` redacts it and it is wiped on drop.
#[derive(Clone, PartialEq)]
pub struct ZkJob {
    /// The zkcode v1 wire JSON, exactly as stored.
    pub payload: String,
    /// The master password from the request.
    pub password: Zeroizing<String>,
    /// The owner's user id from the server's record (the associated data is rebuilt from it).
    pub owner: Uuid,
    /// The name the code was asked for under.
    pub name: String,
}

impl std::fmt::Debug for ZkJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkJob")
            .field("payload", &format_args!("<{} bytes>", self.payload.len()))
            .field("password", &format_args!("[redacted]"))
            .field("owner", &self.owner)
            .field("name", &self.name)
            .finish()
    }
}

/// A user-level run request. The launcher fills in the interpreter and mounts.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Language.
    pub language: Language,
    /// Source code.
    pub code: String,
    /// Fed to stdin.
    pub stdin: String,
    /// Program arguments.
    pub args: Vec<String>,
    /// Extra environment (user's variables and secrets).
    pub env: Vec<(String, String)>,
    /// Wall-clock limit; `None` = the configured default.
    pub timeout_ms: Option<u64>,
    /// Memory limit; `None` = the configured default.
    pub memory_mb: Option<u64>,
    /// Per-stream output cap; `None` = the configured default.
    pub max_output_bytes: Option<u64>,
    /// Encrypted code (then `code` must be empty): the sandbox decrypts it before the program
    /// starts and reports [`JobResult::zk`]. Its Argon2id memory (64 MiB at the default
    /// parameters) counts against `memory_mb`.
    pub zk: Option<ZkJob>,
    /// Extra read-only binds (package environments): host path → path inside the sandbox.
    pub binds: Vec<Bind>,
    /// Network egress through this run's proxy socket (always the cold path).
    pub egress: Option<EgressSpec>,
    /// Files written under `/work` before the program starts (never in a pre-started
    /// interpreter: such a job takes a plain prepared runner or the cold path).
    pub files: Vec<InputFile>,
    /// Files to bring back after the program ended.
    pub output: Option<OutputSpec>,
}

impl Job {
    /// A job with only code set.
    pub fn new(language: Language, code: impl Into<String>) -> Self {
        Self {
            language,
            code: code.into(),
            stdin: String::new(),
            args: Vec::new(),
            env: Vec::new(),
            timeout_ms: None,
            memory_mb: None,
            max_output_bytes: None,
            zk: None,
            binds: Vec::new(),
            egress: None,
            files: Vec::new(),
            output: None,
        }
    }

    /// A zero-knowledge job: no plaintext code, the payload is decrypted in the sandbox.
    pub fn zk(language: Language, zk: ZkJob) -> Self {
        Self {
            zk: Some(zk),
            ..Self::new(language, String::new())
        }
    }
}

/// The result of a run plus the launcher's own timings.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    /// What the runner reported.
    pub result: JobResult,
    /// Time spent waiting for a concurrency slot, ms.
    pub queued_ms: f64,
    /// Runner spawn (or, warm, job sent) to result frame, ms.
    pub runner_ms: f64,
    /// The run used a prepared runner from the warm pool.
    pub warm: bool,
    /// Host pid of the runner that ran it (each runner serves exactly one job).
    pub runner_pid: u32,
}

/// Why a run produced no result.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// No interpreter was detected for this language.
    #[error("language {0:?} is not available on this server")]
    RuntimeMissing(Language),
    /// The runner binary could not be found.
    #[error("runner binary not found (looked at {0})")]
    RunnerNotFound(PathBuf),
    /// Spawning the runner failed.
    #[error("spawning {path}: {source}")]
    Spawn {
        /// Runner path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The frame stream broke.
    #[error("runner protocol: {0}")]
    Protocol(#[from] FrameError),
    /// The runner reported that the sandbox failed.
    #[error("sandbox failed: {0}")]
    Sandbox(String),
    /// The runner outlived the backstop and was killed.
    #[error("runner did not finish within {0:?} and was killed")]
    Backstop(Duration),
    /// The runner exited without a result.
    #[error("runner exited ({status}) without a result; stderr: {stderr}")]
    RunnerDied {
        /// Exit status.
        status: String,
        /// Its stderr (truncated).
        stderr: String,
    },
    /// The launcher is shutting down.
    #[error("launcher closed")]
    Closed,
    /// Every uid of the per-run range is in use (see [`LauncherConfig::identities`]).
    #[error("no free run identity: every uid of the configured range is in use")]
    NoIdentity,
}

/// The runner's job description of `job` under the launcher's configuration: its runtimes,
/// default limits and sandbox options.
pub(crate) fn spec(
    (runtimes, limits, sandbox): (&Runtimes, &Limits, &SandboxOptions),
    job: &Job,
) -> Result<JobSpec, LaunchError> {
    let rt = runtimes
        .get(job.language)
        .ok_or(LaunchError::RuntimeMissing(job.language))?;
    let mut limits = limits.clone();
    limits.timeout_ms = job.timeout_ms.unwrap_or(limits.timeout_ms);
    limits.memory_mb = job.memory_mb.unwrap_or(limits.memory_mb);
    limits.max_output_bytes = job.max_output_bytes.unwrap_or(limits.max_output_bytes);
    Ok(JobSpec {
        language: job.language,
        interpreter: rt.interpreter.clone(),
        interpreter_args: Vec::new(),
        ro_mounts: rt.ro_mounts.clone(),
        binds: job.binds.clone(),
        code: job.code.clone(),
        stdin: job.stdin.clone(),
        args: job.args.clone(),
        env: job
            .env
            .iter()
            .map(|(n, v)| EnvVar {
                name: n.clone(),
                value: v.clone(),
            })
            .collect(),
        limits,
        sandbox: sandbox.clone(),
        zk: job.zk.as_ref().map(|z| ZkSpec {
            payload: z.payload.clone(),
            password: z.password.as_str().to_owned(),
            owner: z.owner.hyphenated().to_string(),
            name: z.name.clone(),
        }),
        egress: job.egress.clone(),
        prestart: false,
        files: job.files.clone(),
        output: job.output.clone(),
        stream: false,
        session: false,
        fork_server: None,
        netns: None,
    })
}
