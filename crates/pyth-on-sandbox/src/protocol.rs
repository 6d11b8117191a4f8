//! The wire protocol between the server (launcher) and one `pyth-on-runner` process.
//!
//! Frames are a big-endian `u32` length followed by that many bytes of JSON. The runner's
//! stdin carries [`ServerFrame`]s, its stdout [`RunnerFrame`]s; stderr is free-form diagnostics.
//!
//! # Handshake
//!
//! The first `Ready` only means "the runner process started and found its cgroup hierarchy"
//! ([`Ready::preisolated`] is `false`); the server may write its frame before reading it
//! (pipes buffer it). A warm pool then sends [`ServerFrame::Prepare`] with a profile (a
//! [`JobSpec`] without any user data): the runner isolates a sandbox whose payload blocks on a
//! pipe and answers a second `Ready` with `preisolated: true`. The `Job` that follows must
//! match the profile except for what depends on the user (code or ZK payload, stdin, args,
//! env, timeout, memory, output cap). A [`ServerFrame::Session`] opens a session instead
//! (cells, see [`crate::session`]).
//!
//! ```text
//! runner  ── Ready{preisolated:false} ──▶ server
//! server  ── Prepare(profile) ──▶ runner            (optional: warm pool)
//! runner  ── Ready{preisolated:true} ──▶ server
//! server  ── Job ──▶ runner                        (EOF instead: tear down and exit)
//! runner  ── Result | Failed ──▶ server, then the runner exits
//! ```
//!
//! With [`JobSpec::prestart`] in the profile, the interpreter itself is started during
//! `Prepare` and waits inside the sandbox for the job ([`crate::warm`]).
//!
//! All fields past the core ones carry `#[serde(default)]`, so new fields (ZK payloads, proxy
//! sockets, package mounts) can be added without breaking older peers.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use crate::egress::EgressSpec;
pub use crate::files::{InputFile, OutputChunk, OutputFile, OutputSpec, Stream};
pub use crate::session::{CellError, CellResult, CellSpec, FileOp, FileOpResult, RichResult};
pub use crate::zk::{ZkOutcome, ZkSpec};

/// Protocol version the runner speaks; sent in [`Ready`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame either side accepts (64 MiB): bounds memory if a peer misbehaves.
pub const MAX_FRAME_BYTES: u32 = 64 << 20;

/// Frames the server sends to the runner.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Run this job, then exit.
    Job(Box<JobSpec>),
    /// Isolate a sandbox for jobs like this profile and wait (warm pool). The profile's code,
    /// stdin, args, env and zk must be empty.
    Prepare(Box<JobSpec>),
    /// Open a session ([`crate::session`]): a profile like `Prepare` (its `env` allowed), a
    /// live interpreter, then any number of [`ServerFrame::Cell`]s; EOF ends it.
    Session(Box<JobSpec>),
    /// Run one cell in the open session.
    Cell(CellSpec),
    /// Do one operation on the open session's files (through its kernel).
    File(FileOp),
    /// Interrupt the session's cell in progress (SIGINT to its kernel, as at its deadline).
    /// Read only while a cell runs; one that arrives between cells is dropped.
    Interrupt,
    /// Become a fork server ([`crate::fork_server`]) for this interpreter: the runner execs
    /// it, and it listens on the socket named here until its stdin closes.
    ForkServer(ForkServerConfig),
}

/// What a runner needs to become a fork server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ForkServerConfig {
    /// Interpreter family (Python only).
    pub language: Language,
    /// Absolute path of the real interpreter binary.
    pub interpreter: PathBuf,
    /// Name of the abstract Unix socket to listen on (without the leading NUL).
    pub socket: String,
}

/// Frames the runner sends to the server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunnerFrame {
    /// The runner is ready to receive its job.
    Ready(Ready),
    /// The job ran (whatever its exit code); the runner exits after this frame.
    Result(Box<JobResult>),
    /// A chunk of the program's stdout or stderr as it was read (only for a job with
    /// [`JobSpec::stream`]); every chunk comes before the `Result`.
    Output(OutputChunk),
    /// One cell of a session is over (its `Output` chunks came before).
    CellResult(Box<CellResult>),
    /// One file operation of a session is over.
    FileResult(Box<FileOpResult>),
    /// The sandbox could not be set up or torn down; no user code ran, or its result is unknown.
    Failed {
        /// Human-readable error chain. Never contains the user's code or stdin.
        error: String,
    },
}

/// Sent once by the runner before it reads its job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ready {
    /// [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The runner's pid (host namespace), for logs.
    pub pid: i32,
    /// `true` once the sandbox is already isolated and waiting for its job (the answer to
    /// [`ServerFrame::Prepare`]).
    #[serde(default)]
    pub preisolated: bool,
    /// Which cgroup backend the runner detected (`"v1"` or `"v2"`).
    pub cgroup: String,
}

/// The interpreter family of a job.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// CPython; the code goes to `/code/main.py`.
    Python,
    /// Node.js; the code goes to `/code/main.js` (CommonJS).
    Javascript,
}

impl Language {
    /// Every language, in the order the API lists them.
    pub const ALL: [Language; 2] = [Language::Python, Language::Javascript];

    /// The canonical name (`python`, `javascript`): what answers and audit entries say.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Javascript => "javascript",
        }
    }

    /// The other names requests may use for it (`GET /api/info` lists them).
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Language::Python => &["py", "python3"],
            Language::Javascript => &["js", "node", "nodejs"],
        }
    }

    /// The language named `name` (canonical or alias, any case, surrounding blanks ignored).
    pub fn from_name(name: &str) -> Option<Language> {
        let name = name.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == name || l.aliases().contains(&name.as_str()))
    }

    /// The file the code is written to inside the sandbox: on its own small tmpfs at `/code`,
    /// root-owned and not writable by the run's uid, so the working directory `/work` starts
    /// empty.
    pub fn main_file(self) -> &'static str {
        match self {
            Language::Python => "/code/main.py",
            Language::Javascript => "/code/main.js",
        }
    }
}

/// An extra bind mount: `host_src` appears at `sandbox_dst`, read-only unless `writable`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Bind {
    /// Absolute host path.
    pub host_src: PathBuf,
    /// Absolute path inside the sandbox. Must not lie inside another read-only bind.
    pub sandbox_dst: PathBuf,
    /// Bound read-write (still nosuid, nodev): the one directory a package build writes its
    /// environment into. Everything else a run sees of the host stays read-only.
    #[serde(default)]
    pub writable: bool,
}

impl Bind {
    /// A read-only bind of `host_src` at `sandbox_dst`.
    pub fn read_only(host_src: impl Into<PathBuf>, sandbox_dst: impl Into<PathBuf>) -> Self {
        Self {
            host_src: host_src.into(),
            sandbox_dst: sandbox_dst.into(),
            writable: false,
        }
    }
}

/// One environment variable.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnvVar {
    /// Name: non-empty, no `=` and no NUL.
    pub name: String,
    /// Value: no NUL.
    pub value: String,
}

/// Everything the runner needs for one run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobSpec {
    /// Interpreter family.
    pub language: Language,
    /// Absolute path of the real interpreter binary (never a shim).
    pub interpreter: PathBuf,
    /// Extra interpreter flags placed before the script (e.g. `-B`). The runner adds none itself.
    #[serde(default)]
    pub interpreter_args: Vec<String>,
    /// Host paths bound read-only at the same path inside (runtime prefix, libraries). A path
    /// that is a symlink on the host is recreated as the same symlink; a missing path is skipped.
    pub ro_mounts: Vec<PathBuf>,
    /// Extra read-only binds at another path (package environments).
    #[serde(default)]
    pub binds: Vec<Bind>,
    /// Source code, written to [`Language::main_file`] before any untrusted process exists.
    /// Empty when [`JobSpec::zk`] is set.
    pub code: String,
    /// Bytes fed to the program's stdin, then closed.
    #[serde(default)]
    pub stdin: String,
    /// Arguments after the script path.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment on top of the fixed allowlist (same name: this wins).
    #[serde(default)]
    pub env: Vec<EnvVar>,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// Identity and placement.
    #[serde(default)]
    pub sandbox: SandboxOptions,
    /// Encrypted code, decrypted inside the sandbox (see [`crate::zk`]); `code` is then empty.
    #[serde(default)]
    pub zk: Option<ZkSpec>,
    /// Network egress through the server's per-run proxy (see [`crate::egress`]); `None`: the
    /// network namespace keeps only loopback. Cold path only (never in a `Prepare` profile).
    #[serde(default)]
    pub egress: Option<EgressSpec>,
    /// Start the interpreter when the sandbox is prepared, before the job exists (warm pool,
    /// see [`crate::warm`]): a bootstrap inside the interpreter waits for the job and runs it.
    /// Not allowed with [`JobSpec::zk`].
    #[serde(default)]
    pub prestart: bool,
    /// Files written under `/work` before the program starts (see [`crate::files`]). Part of
    /// the user's job, never of a `Prepare` profile. Not with `prestart`.
    #[serde(default)]
    pub files: Vec<InputFile>,
    /// Files to bring back once the program ended (see [`crate::files`]). User part.
    #[serde(default)]
    pub output: Option<OutputSpec>,
    /// Send [`RunnerFrame::Output`] frames while the program runs. User part.
    #[serde(default)]
    pub stream: bool,
    /// The interpreter runs a session kernel ([`crate::session`]), started like a
    /// pre-started one. Set by the runner for a `Session` frame.
    #[serde(default)]
    pub session: bool,
    /// Take the payload from this fork server ([`crate::fork_server`]): an interpreter
    /// started once forks into the prepared sandbox instead of one being started in it.
    /// Python only, with [`JobSpec::prestart`]; not for a session.
    #[serde(default)]
    pub fork_server: Option<ForkServerRef>,
    /// Init enters this network namespace, leased by the launcher ([`crate::netns`]), instead
    /// of a new one. Not with [`JobSpec::egress`] or for a session.
    #[serde(default)]
    pub netns: Option<crate::netns::NetnsRef>,
}

/// Where a fork server listens ([`crate::fork_server`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ForkServerRef {
    /// Name of its abstract Unix socket (without the leading NUL).
    pub socket: String,
    /// Its pid: the runner checks that the socket's other end is this root process.
    pub pid: i32,
    /// The interpreter it runs: a job for another one is refused.
    pub interpreter: PathBuf,
}

/// Resource limits of one run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Limits {
    /// Wall-clock limit from clone to kill.
    pub timeout_ms: u64,
    /// Memory cgroup limit (swap off). tmpfs pages count against it too.
    pub memory_mb: u64,
    /// Per-stream cap on stdout and stderr; past it the run is killed.
    pub max_output_bytes: u64,
    /// `pids.max` of the run's cgroup.
    pub pids_max: u64,
    /// CPU quota in CPUs (1.0 = one full core), via the cpu controller when present.
    pub cpu_quota: f64,
    /// Size of each of the `/work` and `/tmp` tmpfs mounts.
    pub tmpfs_size_mb: u64,
    /// Inode cap of each tmpfs.
    pub tmpfs_inodes: u64,
    /// RLIMIT_NOFILE.
    pub nofile: u64,
    /// RLIMIT_FSIZE in bytes.
    pub fsize_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000,
            memory_mb: 256,
            max_output_bytes: 1 << 20,
            pids_max: 64,
            cpu_quota: 1.0,
            tmpfs_size_mb: 64,
            tmpfs_inodes: 4096,
            nofile: 256,
            fsize_bytes: 64 << 20,
        }
    }
}

/// Who the code runs as and where the run's cgroup lives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct SandboxOptions {
    /// Unprivileged uid inside (and outside: no user namespace). Must not be 0.
    pub uid: u32,
    /// Unprivileged gid. Must not be 0.
    pub gid: u32,
    /// Name of the parent cgroup for runs (one path component).
    pub cgroup_parent: String,
    /// Hostname inside the UTS namespace.
    pub hostname: String,
    /// Bring `lo` up inside the (otherwise empty) network namespace.
    pub loopback: bool,
    /// The name of a cgroup leased to this sandbox alone while it lives (with its per-run
    /// identity, by the launcher): the run's group is then that one, kept and reused by the
    /// name's next holder instead of made and removed for each run
    /// (`cgroup::Cgroups::open_kept`). `None`: a group of its own, removed after it.
    pub kept_cgroup: Option<String>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            uid: 65534,
            gid: 65534,
            cgroup_parent: "pyth-on".into(),
            hostname: "pyth-on".into(),
            loopback: true,
            kept_cgroup: None,
        }
    }
}

/// The outcome of one run.
///
/// `stdout` and `stderr` are the captured bytes decoded as UTF-8 with invalid sequences replaced
/// by U+FFFD (lossy); a stream cut at the byte cap may end in one replacement character.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct JobResult {
    /// Captured stdout (lossy UTF-8, at most `max_output_bytes` bytes before decoding).
    pub stdout: String,
    /// Captured stderr (same rules).
    pub stderr: String,
    /// Exit code; 128 + signal when the program was killed.
    pub exit_code: i32,
    /// The signal that killed the program, if any.
    #[serde(default)]
    pub signal: Option<i32>,
    /// The wall-clock limit was hit and the run was killed.
    pub timed_out: bool,
    /// The memory cgroup OOM-killed a process of the run.
    pub memory_exceeded: bool,
    /// stdout or stderr passed the byte cap and the run was killed.
    pub output_truncated: bool,
    /// Cold: clone to reaped; warm: job released to reaped. In milliseconds.
    pub duration_ms: f64,
    /// CPU time (user + system) of every process of the run, in milliseconds, as init measured
    /// it once it had reaped them all; `None` when the run was killed before init could say
    /// (timeout, output cap, cancel).
    #[serde(default)]
    pub cpu_ms: Option<f64>,
    /// Where the time went.
    #[serde(default)]
    pub timings: Timings,
    /// For ZK jobs: what decryption found. `None` for plain jobs, and for ZK jobs whose
    /// decryption never finished (killed by the memory limit or the timeout: see
    /// `memory_exceeded` / `timed_out`). On any failure nothing ran and stdout/stderr are empty.
    #[serde(default)]
    pub zk: Option<ZkOutcome>,
    /// Files found by [`JobSpec::output`], in path order; empty without it, and when the run
    /// was killed (timeout, memory, output cap) before its init could collect them.
    #[serde(default)]
    pub files: Vec<OutputFile>,
    /// Some matching files were left out by [`OutputSpec::max_files`] or
    /// [`OutputSpec::max_bytes`].
    #[serde(default)]
    pub files_truncated: bool,
}

/// Per-step timings of one run, in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Timings {
    /// Creating the cgroup(s) and writing limits.
    pub cgroup_ms: f64,
    /// clone() to `ready`: joining the cgroup, mounts, `pivot_root`, credentials, seccomp. On
    /// the warm path this happened before the job existed.
    pub prepare_ms: f64,
    /// Cold: clone() to the interpreter's execve (`prepare_ms` included). Warm: job released
    /// to execve (writing the program, ZK decryption).
    pub setup_ms: f64,
    /// Of `setup_ms`: joining the cgroup(s) (the cgroup v1 join can stall 7-15 ms on an idle
    /// machine, see the crate README).
    pub join_ms: f64,
    /// Of `setup_ms`: cgroup namespace, mounts, `pivot_root`, hostname, loopback.
    pub rootfs_ms: f64,
    /// Of `setup_ms`: rlimits, uid/gid, capabilities, `no_new_privs`, seccomp.
    pub privileges_ms: f64,
    /// execve to the program's exit.
    pub run_ms: f64,
    /// Job frame received to result ready. The teardown (init's exit taking the namespaces
    /// down, leftovers killed, the cgroup emptied and removed) comes after the result is sent
    /// ([`crate::Teardown`]) and is not part of any timing here.
    pub total_ms: f64,
}

/// Errors while reading or writing frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The pipe failed.
    #[error("frame i/o: {0}")]
    Io(#[from] io::Error),
    /// The peer announced a frame larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(u32),
    /// The payload was not the JSON we expected.
    #[error("frame payload: {0}")]
    Json(#[from] serde_json::Error),
    /// The peer closed the stream before a frame started.
    #[error("stream closed")]
    Closed,
}

/// Serialises `value` into one frame (length prefix included).
pub fn encode_frame<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    let json = serde_json::to_vec(value)?;
    let len = u32::try_from(json.len())
        .ok()
        .filter(|l| *l <= MAX_FRAME_BYTES)
        .ok_or(FrameError::TooLarge(u32::MAX))?;
    let mut out = Vec::with_capacity(4 + json.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&json);
    Ok(out)
}

/// Checks a length prefix read from the wire.
pub fn check_frame_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix);
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(len));
    }
    Ok(len as usize)
}

/// Writes one frame and flushes.
pub fn write_frame<T: Serialize>(w: &mut impl Write, value: &T) -> Result<(), FrameError> {
    w.write_all(&encode_frame(value)?)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame; [`FrameError::Closed`] on a clean EOF before the prefix.
pub fn read_frame<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> Result<T, FrameError> {
    let mut prefix = [0u8; 4];
    match r.read_exact(&mut prefix) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        other => other?,
    }
    let len = check_frame_len(prefix)?;
    // A job frame may carry a ZK password: wipe the raw bytes once parsed.
    let mut buf = Zeroizing::new(vec![0u8; len]);
    r.read_exact(&mut buf)?;
    Ok(serde_json::from_slice(&buf)?)
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
pub(crate) mod tests;
