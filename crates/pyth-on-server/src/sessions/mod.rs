//! Sessions: a live interpreter per session (the launcher's [`pyth_on_launcher::Session`]),
//! kept in this node's [`Registry`], spoken to one cell at a time. A session holds no execution
//! slot while idle; a cell holds one (`state.runs().admit`) only while it runs. Its owner's
//! secrets are in its environment from creation and redacted from every cell's answer. The
//! [`reaper`] ends sessions past their idle timeout or lifetime; shutdown ends them all.
//!
//! Operations that start or end a sandbox run [`detached`] from their request, so a client
//! going away mid-cell cannot leave a kernel half-spoken-to or a session off the record.

pub mod cells;
pub mod files;
pub mod node;
pub mod quota;
pub mod reaper;
pub mod records;
pub mod registry;
pub mod request;
pub mod settings;
pub mod stream;

use std::sync::Arc;

use pyth_on_egress::RunListener;
use pyth_on_launcher::{Bind, EgressSpec, LaunchError, SessionConfig};
use pyth_on_store::StoreError;
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::domain::Invalid;
use crate::execution::{
    detached, package_env, parse_network, parse_packages, start_egress, RunError,
};
use crate::packages::EnvMount;
use crate::redact::OpenSecrets;
use crate::secrets::{self, OpenError};
use crate::state::AppState;

pub use cells::{answer, execute, interrupt};
pub use registry::{Entry, Registry};
pub use request::{BadCell, Cell, NewSession};
pub use settings::SessionSettings;

/// Why a session ended (the `reason` of its `session.end` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Its owner deleted it.
    Deleted,
    /// No cell for its idle timeout.
    Idle,
    /// Its lifetime is over.
    Lifetime,
    /// The kernel ended (`exit()`, a crash, memory) or its sandbox failed.
    Exited,
    /// The server stopped.
    Shutdown,
    /// Its node died with it (found by another node, or by the node's next start).
    NodeGone,
    /// An admin disabled its owner's account.
    AccountDisabled,
}

impl EndReason {
    /// The name audit entries carry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deleted => "deleted",
            Self::Idle => "idle",
            Self::Lifetime => "lifetime",
            Self::Exited => "exited",
            Self::Shutdown => "shutdown",
            Self::NodeGone => "node_gone",
            Self::AccountDisabled => "account_disabled",
        }
    }
}

/// Why a session operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The cell's code is over `--max-code-bytes`.
    #[error("code is {size} bytes; the limit is {limit}")]
    CodeTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: u64,
    },
    /// No session of the caller has this id (another user's is not found either).
    #[error("no such session")]
    NotFound,
    /// A cell of this session is running.
    #[error("a cell of this session is running; retry when it ended")]
    Busy,
    /// The caller holds their share of sessions on this node.
    #[error("you already have {0} sessions open on this server; delete one first")]
    UserFull(usize),
    /// This node holds its maximum of sessions.
    #[error("the server cannot open more sessions right now; retry later")]
    NodeFull,
    /// The sessions open on this node hold their memory budget (MiB held, MiB of the budget).
    #[error(
        "the sessions on this server hold {0} of their {1} MiB of memory; retry later or ask \
         for less memory (memoryMb)"
    )]
    MemoryFull(u64, u64),
    /// The language's interpreter is not installed.
    #[error("{0} is not available on this server")]
    RuntimeMissing(&'static str),
    /// The sandbox failed to open or died under a cell.
    #[error("the sandbox failed")]
    SandboxFailed,
    /// The owner's secrets could not be opened.
    #[error(transparent)]
    Secrets(#[from] OpenError),
    /// Its packages or its egress proxy could not be set up, or a cell found no execution
    /// slot (a run's errors).
    #[error(transparent)]
    Run(#[from] RunError),
    /// A file operation failed (the session goes on).
    #[error(transparent)]
    File(#[from] files::FileError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or an unexpected failure.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<BadCell> for SessionError {
    fn from(bad: BadCell) -> Self {
        match bad {
            BadCell::Invalid(invalid) => Self::Invalid(invalid),
            BadCell::TooLarge(size, limit) => Self::CodeTooLarge { size, limit },
        }
    }
}

/// Opens a session for `user`: a place under the caps, the owner's secrets, the sandbox.
pub async fn create(
    state: &AppState,
    user: &Caller,
    mut new: NewSession,
) -> Result<Arc<Entry>, SessionError> {
    let reservation = state
        .sessions()
        .reserve(user.user_id, new.memory_mb)
        .map_err(|full| match full {
            registry::Full::User(n) => SessionError::UserFull(n),
            registry::Full::Node => SessionError::NodeFull,
            registry::Full::Memory(held, budget) => SessionError::MemoryFull(held, budget),
        })?;
    let packages = parse_packages(state, new.packages.take())?;
    let network = parse_network(state, new.network)?;
    let mounted = package_env(state, user, new.language, &packages).await?;
    let secrets = secrets::open_for_run(state, user, &new.secrets).await?;
    let (owned, user) = (state.clone(), *user);
    detached(state, async move {
        let id = Uuid::now_v7();
        let egress = start_egress(&owned, &user, id, network).await?;
        // The sessions quota, before the kernel starts (on the record when nodes share them).
        let recorded = quota::hold(&owned, user.user_id, id, &new)
            .await
            .map_err(RunError::from)?;
        let prepared = Prepared {
            id,
            mounted,
            egress,
            secrets,
            recorded,
        };
        let entry = match open(&owned, &user, new, prepared).await {
            Ok(entry) => entry,
            Err(err) => {
                if recorded {
                    records::remove(&owned, id).await;
                }
                return Err(err);
            }
        };
        owned.sessions().insert(reservation, entry.clone());
        Ok(entry)
    })
    .await
}

/// What a session's sandbox is opened with, besides the request.
struct Prepared {
    id: Uuid,
    /// The package environment, if it has packages.
    mounted: Option<EnvMount>,
    /// Its egress proxy, if it asked for the network.
    egress: Option<RunListener>,
    secrets: OpenSecrets,
    /// On the record already ([`quota::hold`]): its times move on once open.
    recorded: bool,
}

/// Starts the sandbox and records `session.create`.
async fn open(
    state: &AppState,
    user: &Caller,
    new: NewSession,
    prepared: Prepared,
) -> Result<Arc<Entry>, SessionError> {
    let cfg = config(state, &new, &prepared);
    let kernel = state.launcher().open_session(cfg).await.map_err(|e| {
        tracing::warn!(error = %e, "a session did not open");
        match e {
            LaunchError::RuntimeMissing(l) => SessionError::RuntimeMissing(l.as_str()),
            LaunchError::NoIdentity => SessionError::NodeFull,
            _ => SessionError::SandboxFailed,
        }
    })?;
    let details = created_details(&new, &prepared);
    let Prepared {
        id,
        egress,
        secrets,
        recorded,
        ..
    } = prepared;
    let entry = registry::NewEntry {
        opener: *user,
        memory_mb: new.memory_mb,
        idle_timeout: new.idle_timeout,
        max_lifetime: new.max_lifetime,
        secrets,
        egress,
    };
    let entry = Arc::new(Entry::new(id, entry, kernel));
    let event = audit::by(
        user,
        Action::SessionCreate,
        Some(id.to_string()),
        Outcome::Success,
        details,
    );
    if recorded {
        records::moved(state, &entry).await?;
    } else {
        records::opened(state, &entry).await?;
    }
    if let Err(err) = state.store().append_audit(&event).await {
        records::remove(state, id).await;
        return Err(err.into());
    }
    Ok(entry)
}

/// The launcher's configuration of the session's sandbox.
fn config(state: &AppState, new: &NewSession, prepared: &Prepared) -> SessionConfig {
    let mounted = prepared.mounted.as_ref();
    let mut cfg = SessionConfig::new(new.language);
    cfg.env = crate::execution::run_env(mounted, &new.env, &prepared.secrets);
    cfg.memory_mb = Some(new.memory_mb);
    cfg.max_output_bytes = Some(state.settings().max_output_bytes);
    cfg.cpu_budget = new.max_lifetime;
    cfg.binds = mounted
        .iter()
        .map(|m| Bind::read_only(m.host_path.clone(), m.sandbox_path.clone()))
        .collect();
    cfg.egress = prepared.egress.as_ref().map(|l| EgressSpec {
        socket: l.path().to_owned(),
    });
    cfg
}

/// What `session.create` records: the settings, the names of variables and secrets.
fn created_details(new: &NewSession, prepared: &Prepared) -> serde_json::Value {
    json!({
        "language": new.language.as_str(),
        "packages": prepared.mounted.as_ref().map(|m| m.key.clone()),
        "network": prepared.egress.is_some(),
        "memoryMb": new.memory_mb,
        "idleTimeoutSec": new.idle_timeout.as_secs(),
        "maxLifetimeSec": new.max_lifetime.as_secs(),
        "env": new.env.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        "secrets": prepared.secrets.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
    })
}

/// The caller's open sessions, oldest first.
pub fn list(state: &AppState, user: &Caller) -> Vec<Arc<Entry>> {
    state.sessions().of(user.user_id)
}

/// The caller's session `id`.
pub fn get(state: &AppState, user: &Caller, id: Uuid) -> Result<Arc<Entry>, SessionError> {
    state
        .sessions()
        .get(user.user_id, id)
        .ok_or(SessionError::NotFound)
}

/// Ends the caller's session `id` (a running cell is stopped).
pub async fn delete(state: &AppState, user: &Caller, id: Uuid) -> Result<(), SessionError> {
    let entry = state
        .sessions()
        .remove(user.user_id, id)
        .ok_or(SessionError::NotFound)?;
    let (owned, user) = (state.clone(), *user);
    detached(state, async move {
        end(&owned, &user, &entry, EndReason::Deleted, json!({})).await;
        Ok::<(), SessionError>(())
    })
    .await
}

/// Closes `entry`'s kernel (already out of the registry; a cell or file operation in
/// progress is stopped at once: its runner killed) and records `session.end`, by `by`. A
/// failure to record is logged: the session is over either way.
pub async fn end(
    state: &AppState,
    by: &Caller,
    entry: &Entry,
    reason: EndReason,
    mut details: serde_json::Value,
) {
    entry.stopper.stop();
    records::remove(state, entry.id).await;
    entry.kernel.lock().await.close().await;
    state.metrics().session_ended(reason.as_str());
    details["reason"] = json!(reason.as_str());
    let egress = entry.egress.lock().map(|mut e| e.take()).ok().flatten();
    if let Some(listener) = egress {
        let stats = listener.finish().await;
        details["egress"] = json!({
            "requests": stats.requests, "bytes": stats.bytes, "denied": stats.denied,
        });
    }
    let event = audit::by(
        by,
        Action::SessionEnd,
        Some(entry.id.to_string()),
        Outcome::Success,
        details,
    );
    // A session outliving its deleted account leaves nothing of the account behind.
    if let Ok(None) = state.store().user_by_id(by.user_id).await {
        return;
    }
    if let Err(err) = state.store().append_audit(&event).await {
        tracing::error!(error = %err, session = %entry.id, "a session's end is not on the record");
    }
}

/// Ends every session (the server is stopping).
pub async fn close_all(state: &AppState) {
    let all = state.sessions().drain();
    let ends = all.iter().map(|entry| {
        let by = entry.opener;
        async move { end(state, &by, entry, EndReason::Shutdown, json!({})).await }
    });
    futures::future::join_all(ends).await;
}
