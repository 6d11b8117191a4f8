#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod fork_server;
pub mod ids;
pub mod job;
pub mod launcher;
mod netns;
mod paths;
pub mod pool;
mod process;
mod runner;
pub mod runtimes;
pub mod session;
mod spawner;

pub use fork_server::ForkServerConfig;
pub use launcher::{
    locate_runner, Job, LaunchError, Launcher, LauncherConfig, RunOutput, RunsInProgress, ZkJob,
    RUNNER_NAME,
};
pub use netns::MOST_NETNS_DESCRIPTORS;
pub use pool::{PoolConfig, PoolStats};
pub use pyth_on_sandbox::protocol::{
    Bind, CellError, CellResult, EgressSpec, InputFile, JobResult, JobSpec, Language, Limits,
    OutputChunk, OutputFile, OutputSpec, RichResult, SandboxOptions, Stream, Timings,
};
pub use pyth_on_sandbox::session::{
    EntryKind, FileEntry, FileError, FileErrorKind, FileOp, FileOpResult,
};
pub use pyth_on_sandbox::ZkOutcome;
pub use runner::OutputSink;
pub use runtimes::{LanguageInfo, Runtime, RuntimeConfig, Runtimes};
pub use session::{CellOutcome, FileOutcome, Interrupter, Session, SessionConfig, Stopper};
