//! Spawning one `pyth-on-runner` per run and speaking the frame protocol to it.
//!
//! The server never forks inside its multi-threaded runtime: every run is a fresh runner
//! process (argument array, empty environment, `kill_on_drop`), which isolates itself and the
//! user's code (see `pyth_on_sandbox`). The launcher adds a concurrency bound and an outer
//! backstop timer (job timeout + margin) that kills the runner if it ever hangs; the runner's
//! init has `PDEATHSIG=SIGKILL`, so killing the runner takes the whole run down with it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyth_on_sandbox::protocol::{
    self, EnvVar, FrameError, JobResult, JobSpec, Language, Limits, RunnerFrame, SandboxOptions,
    ServerFrame, ZkSpec,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::runtimes::Runtimes;

/// Name of the runner binary.
pub const RUNNER_NAME: &str = "pyth-on-runner";

/// Launcher settings.
#[derive(Debug, Clone)]
pub struct LauncherConfig {
    /// The runner binary; `None` = next to the current executable (see [`locate_runner`]).
    pub runner_path: Option<PathBuf>,
    /// Detected interpreters.
    pub runtimes: Runtimes,
    /// Runs allowed at once; further calls wait for a slot.
    pub max_concurrency: usize,
    /// Limits not set by the job (pids, CPU, tmpfs, rlimits) and the defaults for the rest.
    pub limits: Limits,
    /// uid/gid, cgroup parent name, hostname, loopback.
    pub sandbox: SandboxOptions,
    /// Extra time past the job's timeout before the launcher kills the runner itself.
    pub backstop_margin: Duration,
}

impl LauncherConfig {
    /// Defaults for everything but the runtimes.
    pub fn new(runtimes: Runtimes) -> Self {
        Self {
            runner_path: None,
            runtimes,
            max_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            limits: Limits::default(),
            sandbox: SandboxOptions::default(),
            backstop_margin: Duration::from_secs(5),
        }
    }
}

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
    /// Runner spawn to result frame, ms.
    pub runner_ms: f64,
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
}

/// Spawns runners; cheap to share (`Arc` inside).
#[derive(Debug, Clone)]
pub struct Launcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    runner: PathBuf,
    cfg: LauncherConfig,
    slots: Semaphore,
}

/// Finds the runner: `configured` if given, else `pyth-on-runner` next to the current
/// executable or one directory up (test binaries live in `target/<profile>/deps`).
pub fn locate_runner(configured: Option<&Path>) -> Result<PathBuf, LaunchError> {
    if let Some(p) = configured {
        return if p.is_file() {
            Ok(p.to_owned())
        } else {
            Err(LaunchError::RunnerNotFound(p.to_owned()))
        };
    }
    let exe =
        std::env::current_exe().map_err(|_| LaunchError::RunnerNotFound(RUNNER_NAME.into()))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [
        dir.join(RUNNER_NAME),
        dir.parent().unwrap_or(dir).join(RUNNER_NAME),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| LaunchError::RunnerNotFound(candidates[0].clone()))
}

impl Launcher {
    /// Locates the runner and prepares the concurrency bound.
    pub fn new(cfg: LauncherConfig) -> Result<Self, LaunchError> {
        let runner = locate_runner(cfg.runner_path.as_deref())?;
        let slots = Semaphore::new(cfg.max_concurrency.max(1));
        Ok(Self {
            inner: Arc::new(Inner { runner, cfg, slots }),
        })
    }

    /// The runtimes this launcher serves.
    pub fn runtimes(&self) -> &Runtimes {
        &self.inner.cfg.runtimes
    }

    /// The runner binary in use.
    pub fn runner_path(&self) -> &Path {
        &self.inner.runner
    }

    /// Builds the runner's job description.
    pub fn spec_for(&self, job: &Job) -> Result<JobSpec, LaunchError> {
        let cfg = &self.inner.cfg;
        let rt = cfg
            .runtimes
            .get(job.language)
            .ok_or(LaunchError::RuntimeMissing(job.language))?;
        let mut limits = cfg.limits.clone();
        limits.timeout_ms = job.timeout_ms.unwrap_or(limits.timeout_ms);
        limits.memory_mb = job.memory_mb.unwrap_or(limits.memory_mb);
        limits.max_output_bytes = job.max_output_bytes.unwrap_or(limits.max_output_bytes);
        Ok(JobSpec {
            language: job.language,
            interpreter: rt.interpreter.clone(),
            interpreter_args: Vec::new(),
            ro_mounts: rt.ro_mounts.clone(),
            binds: Vec::new(),
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
            sandbox: cfg.sandbox.clone(),
            zk: job.zk.as_ref().map(|z| ZkSpec {
                payload: z.payload.clone(),
                password: z.password.as_str().to_owned(),
                owner: z.owner.hyphenated().to_string(),
                name: z.name.clone(),
            }),
        })
    }

    /// Runs one job in a fresh sandbox.
    pub async fn run(&self, job: Job) -> Result<RunOutput, LaunchError> {
        let spec = self.spec_for(&job)?;
        let queued = Instant::now();
        let _slot = self
            .inner
            .slots
            .acquire()
            .await
            .map_err(|_| LaunchError::Closed)?;
        let queued_ms = queued.elapsed().as_secs_f64() * 1000.0;
        let started = Instant::now();
        let backstop =
            Duration::from_millis(spec.limits.timeout_ms) + self.inner.cfg.backstop_margin;
        let result = self.exchange(&spec, backstop).await;
        let runner_ms = started.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok(r) => tracing::debug!(
                language = ?job.language,
                exit_code = r.exit_code,
                timed_out = r.timed_out,
                memory_exceeded = r.memory_exceeded,
                output_truncated = r.output_truncated,
                setup_ms = r.timings.setup_ms,
                runner_ms,
                "run finished"
            ),
            Err(e) => tracing::warn!(language = ?job.language, error = %e, runner_ms, "run failed"),
        }
        Ok(RunOutput {
            result: result?,
            queued_ms,
            runner_ms,
        })
    }

    fn spawn(&self) -> Result<Child, LaunchError> {
        Command::new(&self.inner.runner)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| LaunchError::Spawn {
                path: self.inner.runner.clone(),
                source,
            })
    }

    async fn exchange(&self, spec: &JobSpec, backstop: Duration) -> Result<JobResult, LaunchError> {
        let mut child = self.spawn()?;
        let (Some(mut stdin), Some(mut stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(LaunchError::Closed);
        };
        let stderr_task = tokio::spawn(read_capped(stderr, 16 << 10));
        // The frame may carry a ZK password: wiped once written.
        let frame = Zeroizing::new(protocol::encode_frame(&ServerFrame::Job(Box::new(
            spec.clone(),
        )))?);
        let talk = async {
            // The runner reads the job only after sending Ready; the pipe buffers it meanwhile.
            stdin.write_all(&frame).await.map_err(FrameError::Io)?;
            drop(stdin);
            loop {
                match read_frame(&mut stdout).await? {
                    RunnerFrame::Ready(_) => continue,
                    RunnerFrame::Result(r) => return Ok(*r),
                    RunnerFrame::Failed { error } => return Err(LaunchError::Sandbox(error)),
                }
            }
        };
        let outcome = tokio::time::timeout(backstop, talk).await;
        let outcome = match outcome {
            Ok(r) => r,
            Err(_) => {
                let _ = child.kill().await;
                return Err(LaunchError::Backstop(backstop));
            }
        };
        match outcome {
            Ok(result) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                Ok(result)
            }
            Err(LaunchError::Protocol(FrameError::Closed))
            | Err(LaunchError::Protocol(FrameError::Io(_))) => {
                let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await
                {
                    Ok(Ok(s)) => s.to_string(),
                    _ => "unknown".into(),
                };
                let stderr = stderr_task.await.unwrap_or_default();
                Err(LaunchError::RunnerDied { status, stderr })
            }
            Err(e) => Err(e),
        }
    }

    /// Cheap health check: the runner starts, finds its cgroup hierarchy and says `Ready`, and
    /// at least one runtime is available. Runs no user code.
    pub async fn self_test(&self) -> Result<(), LaunchError> {
        if self.runtimes().python.is_none() && self.runtimes().javascript.is_none() {
            return Err(LaunchError::Sandbox("no runtime available".into()));
        }
        let mut child = self.spawn()?;
        let Some(mut stdout) = child.stdout.take() else {
            return Err(LaunchError::Closed);
        };
        let ready = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut stdout)).await;
        drop(child.stdin.take()); // EOF: the runner exits without a job
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        match ready {
            Ok(Ok(RunnerFrame::Ready(_))) => Ok(()),
            Ok(Ok(RunnerFrame::Failed { error })) => Err(LaunchError::Sandbox(error)),
            Ok(Ok(_)) => Err(LaunchError::Sandbox("unexpected frame before Ready".into())),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(LaunchError::Backstop(Duration::from_secs(5))),
        }
    }
}

/// Reads one length-prefixed frame.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<RunnerFrame, LaunchError> {
    let mut prefix = [0u8; 4];
    if let Err(e) = r.read_exact(&mut prefix).await {
        return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Closed.into()
        } else {
            FrameError::Io(e).into()
        });
    }
    let len = protocol::check_frame_len(prefix)?;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await.map_err(FrameError::Io)?;
    Ok(serde_json::from_slice(&buf).map_err(FrameError::Json)?)
}

async fn read_capped<R: AsyncRead + Unpin>(mut r: R, cap: usize) -> String {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = r.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        if out.len() < cap {
            out.extend_from_slice(&chunk[..n.min(cap - out.len())]);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
