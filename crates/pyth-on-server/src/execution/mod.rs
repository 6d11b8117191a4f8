//! One run, from a parsed request to an `ExecuteResponse`, in three steps: [`admit`] (the
//! package environment, admission, the owner's secrets, the egress proxy: cancellable, nothing
//! ran yet), [`launch`] (the run goes on the record, then the sandbox runs it) and [`finish`]
//! (its outcome on the record, its answer redacted). `/execute`, generate and ZK runs all go
//! through them; from the record on, a run is [`detached`] from its request, so a client that
//! goes away cannot leave it unaccounted for. A ZK run settles its wrong-password budget
//! between `launch` and `finish`.

use std::future::Future;

use pyth_on_egress::RunListener;
use pyth_on_launcher::{Bind, EgressSpec, Job, JobResult, ZkJob};
use pyth_on_sandbox::ZkOutcome;
use pyth_on_types::{EgressUsage, ExecuteResponse};
use serde_json::json;
use tracing::Instrument;
use uuid::Uuid;

use crate::audit::{self, Action};
use crate::domain::VarName;
use crate::error::ApiError;
use crate::http::auth::AuthUser;
use crate::packages::EnvMount;
use crate::runs::RunPermit;
use crate::secrets;
use crate::state::AppState;

mod outcome;
pub mod record;
mod request;

pub use outcome::finish;
pub use request::{RunRequest, ZkRun, MAX_ARGS, MAX_ARG_BYTES, MAX_ENV};

/// Runs `request` for `user` and records it in the audit log (`execute`, or `zk.execute` /
/// `zk.wrong_password` for zero-knowledge runs).
pub async fn run(
    state: &AppState,
    user: &AuthUser,
    request: RunRequest,
) -> Result<ExecuteResponse, ApiError> {
    let admitted = admit(state, user, request).await?;
    let (owned, user) = (state.clone(), *user);
    detached(state, async move {
        let ran = launch(&owned, &user, admitted).await?;
        finish(&owned, &user, ran).await
    })
    .await
}

/// Carries `work` on in a task of its own (with the request's id and span), so it finishes,
/// and its outcome is recorded, even if the request is dropped; shutdown waits for it within
/// its grace period.
pub async fn detached<T: Send + 'static>(
    state: &AppState,
    work: impl Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    let work = crate::http::request_id::carry(work).instrument(tracing::Span::current());
    match state.runs().detach(work).await {
        Ok(result) => result,
        Err(failed) => Err(ApiError::Internal(
            anyhow::Error::new(failed).context("the run's task failed"),
        )),
    }
}

/// What the audit entries of a run say: its action, resource and details.
struct AuditSubject {
    action: Action,
    resource: String,
    details: serde_json::Value,
}

/// A run admitted on this node with what it needs, not yet on the record: dropping it (its
/// client went away while it waited) leaves nothing to account for, as nothing ran.
pub struct Admitted {
    execution_id: Uuid,
    request: RunRequest,
    env_mount: Option<EnvMount>,
    permit: RunPermit,
    secrets: secrets::OpenSecrets,
    egress: Option<RunListener>,
}

impl std::fmt::Debug for Admitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitted")
            .field("execution_id", &self.execution_id)
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

/// A run the sandbox has finished, before its outcome and its answer ([`finish`]).
pub struct Ran {
    execution_id: Uuid,
    language: &'static str,
    subject: AuditSubject,
    secrets: secrets::OpenSecrets,
    egress: Option<EgressUsage>,
    result: JobResult,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ran")
            .field("execution_id", &self.execution_id)
            .field("language", &self.language)
            .field("zk", &self.result.zk)
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl Ran {
    /// What the decryption stage of a zero-knowledge run found: `None` for a plain run, and
    /// for a zero-knowledge one that ended (timed out, killed) before it said.
    pub fn zk_outcome(&self) -> Option<ZkOutcome> {
        self.result.zk
    }
}

/// The package environment (built once per set; a build in progress is waited for holding
/// no execution slot), admission, the owner's secrets and the egress proxy.
pub async fn admit(
    state: &AppState,
    user: &AuthUser,
    request: RunRequest,
) -> Result<Admitted, ApiError> {
    let execution_id = Uuid::now_v7();
    let env_mount = package_env(state, user, &request).await?;
    let permit = state.runs().admit(user.user_id).await.map_err(|refused| {
        state.metrics().refused_busy();
        match refused {
            crate::runs::Refused::NodeFull => ApiError::sandbox_busy(1),
            crate::runs::Refused::UserFull(n) => ApiError::too_many_runs(n),
        }
    })?;
    let secrets = secrets::open_for_run(state, user.user_id).await?;
    let egress = start_egress(state, user, execution_id, request.network).await?;
    Ok(Admitted {
        execution_id,
        request,
        env_mount,
        permit,
        secrets,
        egress,
    })
}

/// Puts the run on the record, then runs it in the sandbox. An error means its program did
/// not run (a sandbox failure is on the record).
pub async fn launch(state: &AppState, user: &AuthUser, run: Admitted) -> Result<Ran, ApiError> {
    let Admitted {
        execution_id,
        request,
        env_mount,
        permit,
        secrets,
        egress,
    } = run;
    let language = request.language.as_str();
    let mut subject = audit_subject(&request, execution_id);
    let started = started_details(&subject, &request, &secrets, execution_id);
    record::begin(
        state,
        user,
        &subject,
        (execution_id, request.timeout_ms),
        started,
    )
    .await?;
    let env = run_env(env_mount.as_ref(), &request.env, &secrets);
    let binds = env_mount
        .iter()
        .map(|m| Bind::read_only(m.host_path.clone(), m.sandbox_path.clone()))
        .collect();
    let egress_spec = egress.as_ref().map(|l| EgressSpec {
        socket: l.path().to_owned(),
    });
    let job = job(state, request, env, binds, egress_spec);
    let result = state.launcher().run(job).await;
    drop(permit);
    let egress = match egress {
        Some(listener) => Some(finish_egress(listener, &mut subject.details).await),
        None => None,
    };
    let result = match result {
        Ok(output) => output.result,
        Err(err) => {
            let run = (execution_id, language);
            return Err(outcome::sandbox_failed(state, user, run, subject, err).await);
        }
    };
    Ok(Ran {
        execution_id,
        language,
        subject,
        secrets,
        egress,
        result,
    })
}

/// The package environment of the run, if it has packages.
async fn package_env(
    state: &AppState,
    user: &AuthUser,
    request: &RunRequest,
) -> Result<Option<EnvMount>, ApiError> {
    match state.packages() {
        Some(manager) => {
            crate::packages::resolve_for_run(
                state,
                manager,
                user.user_id,
                request.language,
                &request.packages,
            )
            .await
        }
        None if request.packages.is_empty() => Ok(None),
        None => Err(ApiError::bad_request_code(
            "packages_unavailable",
            "packages are not enabled on this server",
        )),
    }
}

/// The run's variables: the package environment's, the request's, then the secrets (which
/// win over same-named request variables).
fn run_env(
    env_mount: Option<&EnvMount>,
    request_env: &[(VarName, String)],
    secrets: &secrets::OpenSecrets,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = env_mount.map(|m| m.env.clone()).unwrap_or_default();
    env.extend(
        request_env
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), value.clone())),
    );
    env.retain(|(n, _)| !secrets.iter().any(|(name, _)| name == n));
    env.extend(
        secrets
            .iter()
            .map(|(name, value)| (name.clone(), value.to_string())),
    );
    env
}

/// What the audit entries say about the code: a digest and a size, never the code. For a
/// zero-knowledge run the server does not know the code: the stored name and size only.
fn audit_subject(request: &RunRequest, execution_id: Uuid) -> AuditSubject {
    let language = request.language.as_str();
    match &request.zk {
        None => AuditSubject {
            action: Action::Execute,
            resource: execution_id.to_string(),
            details: json!({
                "language": language,
                "codeSha256": audit::code_digest(request.code.as_bytes()),
                "codeSize": request.code.len(),
            }),
        },
        Some(zk) => AuditSubject {
            action: Action::ZkExecute,
            resource: zk.name.clone(),
            details: json!({
                "language": language, "codeSize": zk.code_size, "executionId": execution_id,
            }),
        },
    }
}

/// The `started` entry's details: the code's, and the run's settings and the names of the
/// secrets it is given (never their values).
fn started_details(
    subject: &AuditSubject,
    request: &RunRequest,
    secrets: &secrets::OpenSecrets,
    execution_id: Uuid,
) -> serde_json::Value {
    let mut details = subject.details.clone();
    let names: Vec<&str> = secrets.iter().map(|(name, _)| name.as_str()).collect();
    for (key, value) in [
        ("executionId", json!(execution_id)),
        ("secrets", json!(names)),
        ("timeoutMs", json!(request.timeout_ms)),
        ("memoryMb", json!(request.memory_mb)),
        ("network", json!(request.network)),
        ("packages", json!(request.packages)),
    ] {
        details[key] = value;
    }
    details
}

/// The run's egress proxy when it asked for the network: its socket is this run's identity
/// (user, bounds), set here, not by the program.
async fn start_egress(
    state: &AppState,
    user: &AuthUser,
    execution_id: Uuid,
    network: bool,
) -> Result<Option<RunListener>, ApiError> {
    let Some(egress) = state.egress().filter(|_| network) else {
        return Ok(None);
    };
    let narrow = match state.store().get_egress_allow(user.user_id).await? {
        Some(hosts) => Some(
            pyth_on_egress::parse_patterns(&hosts.join(","))
                .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?,
        ),
        None => None,
    };
    let listener = egress
        .start(state.store_arc(), user.user_id, execution_id, narrow)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("egress proxy")))?;
    Ok(Some(listener))
}

/// Stops the run's proxy; its counts go into the audit details and the answer.
async fn finish_egress(listener: RunListener, details: &mut serde_json::Value) -> EgressUsage {
    let stats = listener.finish().await;
    details["egress"] = json!({
        "requests": stats.requests, "bytes": stats.bytes, "denied": stats.denied,
    });
    EgressUsage {
        requests: stats.requests,
        bytes: stats.bytes,
        denied: stats.denied,
    }
}

/// The sandbox job.
fn job(
    state: &AppState,
    request: RunRequest,
    env: Vec<(String, String)>,
    binds: Vec<Bind>,
    egress: Option<EgressSpec>,
) -> Job {
    Job {
        language: request.language,
        code: request.code,
        stdin: request.stdin,
        args: request.args,
        env,
        timeout_ms: Some(request.timeout_ms),
        memory_mb: Some(request.memory_mb),
        max_output_bytes: Some(state.settings().max_output_bytes),
        binds,
        zk: request.zk.map(|zk| ZkJob {
            payload: zk.payload,
            password: zk.password,
            owner: zk.owner,
            name: zk.name,
        }),
        egress,
    }
}
