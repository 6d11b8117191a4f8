//! One run, from a parsed request to an `ExecuteResponse`: admission, the owner's secrets,
//! the sandbox (with its egress proxy when it asked for the network), redaction and the audit
//! entry. `/execute`, generate and ZK runs all go through it; a ZK run uses its two halves,
//! [`launch`] and [`finish`], to settle its wrong-password budget in between.

use pyth_on_egress::RunListener;
use pyth_on_launcher::{Bind, EgressSpec, Job, JobResult, LaunchError, ZkJob};
use pyth_on_sandbox::ZkOutcome;
use pyth_on_types::{EgressUsage, ExecuteResponse};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Outcome};
use crate::domain::{Language, VarName};
use crate::error::ApiError;
use crate::http::auth::AuthUser;
use crate::packages::EnvMount;
use crate::secrets;
use crate::state::AppState;

mod request;

pub use request::{RunRequest, ZkRun, MAX_ARGS, MAX_ARG_BYTES, MAX_ENV};

/// Runs `request` for `user` and records it in the audit log (`execute`, or `zk.execute` /
/// `zk.wrong_password` for zero-knowledge runs).
pub async fn run(
    state: &AppState,
    user: &AuthUser,
    request: RunRequest,
) -> Result<ExecuteResponse, ApiError> {
    let ran = launch(state, user, request).await?;
    finish(state, user, ran).await
}

/// What the audit entry of a run says: its action, resource and details.
struct AuditSubject {
    action: &'static str,
    resource: String,
    details: serde_json::Value,
}

/// A run the sandbox has finished, before its audit entry and its answer ([`finish`]).
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

/// Everything up to the sandbox's result: the package environment, admission, the owner's
/// secrets, the egress proxy and the sandbox. An error means nothing ran (a sandbox failure
/// is audited here).
pub async fn launch(
    state: &AppState,
    user: &AuthUser,
    request: RunRequest,
) -> Result<Ran, ApiError> {
    let execution_id = Uuid::now_v7();
    // The user's package environment (built once per set; waits for a build in progress,
    // holding no execution slot: admission comes after).
    let env_mount = package_env(state, user, &request).await?;
    let permit = state.runs().admit(user.user_id).await.map_err(|refused| {
        state.metrics().refused_busy();
        match refused {
            crate::runs::Refused::NodeFull => ApiError::sandbox_busy(1),
            crate::runs::Refused::UserFull(n) => ApiError::too_many_runs(n),
        }
    })?;
    let secrets = secrets::open_for_run(state, user.user_id).await?;
    let env = run_env(env_mount.as_ref(), &request.env, &secrets);
    let language = request.language.as_str();
    let mut subject = audit_subject(&request, execution_id);
    let egress = start_egress(state, user, execution_id, request.network).await?;
    let binds = env_mount
        .iter()
        .map(|m| Bind::read_only(m.host_path.clone(), m.sandbox_path.clone()))
        .collect();
    let egress_spec = egress.as_ref().map(|l| EgressSpec {
        socket: l.path().to_owned(),
    });
    let result = state
        .launcher()
        .run(job(state, request, env, binds, egress_spec))
        .await;
    drop(permit);
    let egress = match egress {
        Some(listener) => Some(finish_egress(listener, &mut subject.details).await),
        None => None,
    };
    let result = match result {
        Ok(output) => output.result,
        Err(err) => {
            return Err(sandbox_failed(state, user, (execution_id, language), subject, err).await)
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

/// What the audit entry says about the code: a digest and a size, never the code. For a
/// zero-knowledge run the server does not know the code: the stored name and size only.
fn audit_subject(request: &RunRequest, execution_id: Uuid) -> AuditSubject {
    let language = request.language.as_str();
    match &request.zk {
        None => AuditSubject {
            action: "execute",
            resource: execution_id.to_string(),
            details: json!({
                "language": language,
                "codeSha256": audit::code_digest(request.code.as_bytes()),
                "codeSize": request.code.len(),
            }),
        },
        Some(zk) => AuditSubject {
            action: "zk.execute",
            resource: zk.name.clone(),
            details: json!({
                "language": language, "codeSize": zk.code_size, "executionId": execution_id,
            }),
        },
    }
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
        language: match request.language {
            Language::Python => pyth_on_sandbox::Language::Python,
            Language::Javascript => pyth_on_sandbox::Language::Javascript,
        },
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

/// The answer (and, unless the runtime is simply missing, the audit entry) for a sandbox
/// that could not run the program.
async fn sandbox_failed(
    state: &AppState,
    user: &AuthUser,
    (execution_id, language): (Uuid, &'static str),
    subject: AuditSubject,
    err: LaunchError,
) -> ApiError {
    if let LaunchError::RuntimeMissing(_) = err {
        return ApiError::bad_request_code(
            "unsupported_language",
            format!("{language} is not installed on this server"),
        );
    }
    let AuditSubject {
        action,
        resource,
        mut details,
    } = subject;
    details["reason"] = json!("sandbox_unavailable");
    let event = audit::by(user, action, Some(resource), Outcome::Failure, details);
    if let Err(store_err) = state.store().append_audit(&event).await {
        return store_err.into();
    }
    tracing::error!(execution.id = %execution_id, error = %err, "sandbox failed");
    state.metrics().run(crate::metrics::RunKind::Failed, 0);
    ApiError::Unavailable {
        code: "sandbox_unavailable",
        message: "the sandbox failed to run this program; retry shortly".into(),
        retry_after_secs: Some(1),
    }
}

/// The audit entry and the answer of a finished run: a refusal when a zero-knowledge
/// payload did not decrypt (nothing ran), else the program's output, redacted.
pub async fn finish(
    state: &AppState,
    user: &AuthUser,
    ran: Ran,
) -> Result<ExecuteResponse, ApiError> {
    let Ran {
        execution_id,
        language,
        subject,
        secrets,
        egress,
        result,
    } = ran;
    if let Some(outcome) = result.zk.filter(|z| *z != ZkOutcome::Decrypted) {
        return Err(refuse_undecrypted(state, user, outcome, subject).await);
    }
    let duration_ms = result.duration_ms.max(0.0).round() as u64;
    let kind = if result.timed_out {
        crate::metrics::RunKind::TimedOut
    } else if result.memory_exceeded {
        crate::metrics::RunKind::MemoryExceeded
    } else {
        crate::metrics::RunKind::Completed
    };
    state.metrics().run(kind, duration_ms);
    let response = ExecuteResponse {
        output: secrets::redact(&result.stdout, &secrets),
        error: secrets::redact(&result.stderr, &secrets),
        exit_code: result.exit_code,
        language: language.to_string(),
        duration_ms,
        timed_out: result.timed_out,
        memory_exceeded: result.memory_exceeded,
        output_truncated: result.output_truncated,
        execution_id,
        zero_knowledge: None,
        egress,
    };
    let AuditSubject {
        action,
        resource,
        mut details,
    } = subject;
    for (key, value) in [
        ("exitCode", json!(response.exit_code)),
        ("durationMs", json!(duration_ms)),
        ("timedOut", json!(response.timed_out)),
        ("memoryExceeded", json!(response.memory_exceeded)),
        ("outputTruncated", json!(response.output_truncated)),
        ("secretsInjected", json!(secrets.len())),
    ] {
        details[key] = value;
    }
    let event = audit::by(user, action, Some(resource), Outcome::Success, details);
    state.store().append_audit(&event).await?;
    Ok(response)
}

/// Audits a zero-knowledge payload that did not decrypt and answers: 403 for a wrong
/// password (`zk.wrong_password`), 422 when it was tampered with or moved.
async fn refuse_undecrypted(
    state: &AppState,
    user: &AuthUser,
    outcome: ZkOutcome,
    subject: AuditSubject,
) -> ApiError {
    let AuditSubject {
        action,
        resource,
        mut details,
    } = subject;
    let (event, refusal) = if outcome == ZkOutcome::WrongPassword {
        let event = audit::by(
            user,
            "zk.wrong_password",
            Some(resource),
            Outcome::Denied,
            details,
        );
        let refusal = ApiError::Forbidden {
            code: "zk_wrong_password",
            message: "the master password does not open this payload; nothing ran".into(),
        };
        (event, refusal)
    } else {
        details["reason"] = json!("integrity");
        let event = audit::by(user, action, Some(resource), Outcome::Failure, details);
        let refusal = ApiError::Unprocessable {
            code: "zk_integrity",
            message:
                "the payload was tampered with or is bound to another name or user; nothing ran"
                    .into(),
            details: None,
        };
        (event, refusal)
    };
    match state.store().append_audit(&event).await {
        Ok(_) => refusal,
        Err(err) => err.into(),
    }
}
