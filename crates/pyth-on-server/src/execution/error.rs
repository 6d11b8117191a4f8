//! [`RunError`]: why a run was refused or did not run, as the execution service says it (the
//! HTTP layer, `http::error_map`, answers each with its status and stable code).

use pyth_on_store::StoreError;

use crate::domain::Invalid;
use crate::packages::PackageError;
use crate::quotas::{QuotaError, QuotaExceeded};
use crate::secrets::OpenError;

/// Why a run was refused or did not run. Every variant but [`RunError::ZkWrongPassword`] and
/// [`RunError::ZkIntegrity`] means the program did not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A setting or the code is not valid.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The code is over `--max-code-bytes`.
    #[error("code is {size} bytes; the limit is {limit}")]
    CodeTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: u64,
    },
    /// The run's input files pass a count or size bound (the message says which).
    #[error("{0}")]
    FilesTooLarge(String),
    /// The node's run queue is full.
    #[error("the server cannot take more runs right now; retry shortly")]
    NodeFull,
    /// The user's share of the node's run queue is full.
    #[error("you already have {0} runs waiting or running on this server; retry when one ends")]
    UserFull(usize),
    /// The language's runtime is not installed on this server.
    #[error("{0} is not installed on this server")]
    RuntimeMissing(&'static str),
    /// The sandbox failed to run the program (logged where it happened).
    #[error("the sandbox failed to run this program; retry shortly")]
    SandboxFailed,
    /// The run's package environment.
    #[error(transparent)]
    Packages(#[from] PackageError),
    /// The owner's secrets could not be opened.
    #[error(transparent)]
    Secrets(#[from] OpenError),
    /// A zero-knowledge payload's master password is wrong: nothing ran.
    #[error("the master password does not open this payload; nothing ran")]
    ZkWrongPassword,
    /// A zero-knowledge payload was tampered with or moved: nothing ran.
    #[error("the payload was tampered with or is bound to another name or user; nothing ran")]
    ZkIntegrity,
    /// The user's wrong-password budget for this name is spent.
    #[error("too many wrong master passwords for this name; retry later")]
    GuessesSpent {
        /// Milliseconds until a guess is free again.
        retry_after_ms: i64,
    },
    /// A quota of the user's refused the run (runs or CPU seconds of the day, sessions).
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else (a bug or an unexpected failure).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::runs::Refused> for RunError {
    fn from(refused: crate::runs::Refused) -> Self {
        match refused {
            crate::runs::Refused::NodeFull => RunError::NodeFull,
            crate::runs::Refused::UserFull(n) => RunError::UserFull(n),
        }
    }
}

impl From<QuotaError> for RunError {
    fn from(err: QuotaError) -> Self {
        match err {
            QuotaError::Exceeded(exceeded) => RunError::Quota(exceeded),
            QuotaError::Store(err) => RunError::Store(err),
            QuotaError::UserNotFound => {
                RunError::Internal(anyhow::anyhow!("the caller is no user"))
            }
        }
    }
}
