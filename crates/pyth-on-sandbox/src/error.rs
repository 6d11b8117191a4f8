//! Error types of the sandbox library.
//!
//! Every failed system call becomes a [`SysError`] that names the call and its arguments, so a
//! log line says `mount("tmpfs", "/run/pyth-on/root", "tmpfs", 0x6, "size=1m") failed: EPERM`
//! instead of just `EPERM`. Higher layers wrap it in [`SandboxError`] with the step that failed.

use std::io;
use std::path::PathBuf;

/// A system call (or libc function) failed.
#[derive(Debug, thiserror::Error)]
#[error("{call}({args}) failed: {source}")]
pub struct SysError {
    /// Name of the call, e.g. `"pivot_root"`.
    pub call: &'static str,
    /// The arguments, rendered for humans.
    pub args: String,
    /// The errno the call returned.
    #[source]
    pub source: io::Error,
}

impl SysError {
    /// Captures `errno` right after a failed call.
    pub fn last(call: &'static str, args: String) -> Self {
        Self {
            call,
            args,
            source: io::Error::last_os_error(),
        }
    }

    /// Wraps an error from a std call that stands for a syscall.
    pub fn from_io(call: &'static str, args: String, source: io::Error) -> Self {
        Self { call, args, source }
    }

    /// The raw errno, when there is one.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

/// Failure to manage a run's control groups.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// No usable cgroup hierarchy (neither v2 with memory+pids nor the v1 controllers).
    #[error("no usable cgroup hierarchy: {0}")]
    Unavailable(String),
    /// A cgroup file or directory operation failed.
    #[error("cgroup {op} {path}: {source}")]
    Io {
        /// What was attempted (`mkdir`, `write`, `read`, `rmdir`).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A cgroup file held something we could not parse.
    #[error("cgroup file {path} has unexpected content {content:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it held.
        content: String,
    },
    /// Processes were still in the cgroup after repeated kills.
    #[error("cgroup {path} still has processes after teardown: {pids:?}")]
    NotEmpty {
        /// The cgroup directory.
        path: PathBuf,
        /// The pids that were left.
        pids: Vec<i32>,
    },
    /// A system call used during teardown failed.
    #[error(transparent)]
    Sys(#[from] SysError),
}

impl CgroupError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Failure to build the seccomp filter.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The program could not be laid out (a jump too far, a label never placed).
    #[error("laying out the seccomp program: {0}")]
    Layout(&'static str),
    /// Installing the program failed.
    #[error("installing the seccomp program: {0}")]
    Install(#[source] seccompiler::Error),
}

/// Anything that can go wrong while running one job.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The job description is unusable (bad path, bad env name, ...).
    #[error("invalid job: {0}")]
    InvalidJob(String),
    /// A system call in the supervisor failed.
    #[error("supervisor: {0}")]
    Sys(#[from] SysError),
    /// Control group set-up or teardown failed.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// The seccomp filter could not be built.
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// The sandboxed child reported a set-up failure before it could exec.
    #[error("sandbox set-up failed in the child: {0}")]
    ChildSetup(String),
    /// The run succeeded but teardown failed; the result is kept.
    #[error("teardown failed after the run: {0}")]
    Teardown(CgroupError),
    /// Live output could not be sent (the server went away); the run was killed.
    #[error("sending live output: {0}")]
    Stream(#[source] io::Error),
}

/// A step of the child's set-up failed; sent to the supervisor over the error pipe.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// A system call failed.
    #[error("{step}: {source}")]
    Sys {
        /// Which set-up step (`rootfs`, `pivot_root`, `credentials`, ...).
        step: &'static str,
        /// The failed call.
        #[source]
        source: SysError,
    },
    /// Writing a file into the new root failed.
    #[error("{step}: {path}: {source}")]
    Io {
        /// Which step.
        step: &'static str,
        /// The path inside or outside the new root.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Installing seccomp failed.
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// A string for execve held a NUL byte.
    #[error("argument or environment entry contains a NUL byte: {0:?}")]
    Nul(String),
    /// The release (the user's part of the job) could not be read or applied.
    #[error("release: {0}")]
    Release(String),
    /// An input file's path was refused ([`crate::files::check_relative_path`]).
    #[error("input file {path:?}: {reason}")]
    InputPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        #[source]
        reason: crate::files::PathError,
    },
    /// The input files do not fit in `/work` (its tmpfs is full, out of inodes, or a file is
    /// larger than `RLIMIT_FSIZE`). The message starts with
    /// [`crate::files::INPUT_FILES_TOO_LARGE`].
    #[error("the input files do not fit in the working directory: {path}: {source}")]
    InputNoSpace {
        /// The file that did not fit (normalised path).
        path: String,
        /// `ENOSPC`, `EDQUOT` or `EFBIG`.
        #[source]
        source: io::Error,
    },
    /// Writing an input file failed otherwise (e.g. the path was given twice).
    #[error("input file {path}: {source}")]
    InputIo {
        /// The file (normalised path).
        path: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl ChildError {
    /// Classifies an error writing the input file `path`.
    pub(crate) fn from_input_io(path: &str, source: io::Error) -> Self {
        let path = path.to_owned();
        match source.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG) => Self::InputNoSpace { path, source },
            _ => Self::InputIo { path, source },
        }
    }
}
