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
use pyth_on_store::CpuCharge;
use pyth_on_types::{EgressUsage, ExecuteResponse};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::caller::Caller;
use crate::domain::VarName;
use crate::packages::EnvMount;
use crate::runs::RunPermit;
use crate::secrets;
use crate::state::AppState;

mod error;
pub mod files;
pub mod live;
mod outcome;
mod packages;
pub(crate) use packages::package_env;
pub mod record;
use record::{audit_subject, started_details, AuditSubject};
mod request;
pub(crate) use request::{parse_env, parse_network, parse_packages};
pub mod zk;

pub use error::RunError;
pub use live::Live;
pub use outcome::finish;
pub use request::{
    Program, RunOptions, RunRequest, RunSettings, ZkRun, MAX_ARGS, MAX_ARG_BYTES, MAX_ENV,
};

/// Runs `request` for `user` and records it in the audit log (`execute`, or `zk.execute` /
/// `zk.wrong_password` for zero-knowledge runs).
pub async fn run(
    state: &AppState,
    user: &Caller,
    request: RunRequest,
) -> Result<ExecuteResponse, RunError> {
    let admitted = admit(state, user, request).await?;
    let (owned, user) = (state.clone(), *user);
    detached(state, async move {
        let ran = launch(&owned, &user, admitted, Live::default()).await?;
        finish(&owned, &user, ran).await
    })
    .await
}

/// Starts `request` as a streamed run: admitted now (a refusal is an error here, before any
/// event), then run in a task of its own whose output and answer arrive as events. Dropping
/// the returned [`live::Streamed`] stops the run (its outcome is still recorded).
pub async fn stream(
    state: &AppState,
    user: &Caller,
    request: RunRequest,
) -> Result<live::Streamed, RunError> {
    let admitted = admit(state, user, request).await?;
    let execution_id = admitted.execution_id;
    let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
    let live = Live {
        events: Some(events.clone()),
    };
    let stop = admitted.cancel.clone().drop_guard();
    let (owned, user) = (state.clone(), *user);
    let work = async move {
        let answer = match launch(&owned, &user, admitted, live).await {
            Ok(ran) => finish(&owned, &user, ran).await,
            Err(err) => Err(err),
        };
        let _ = events.send(live::LiveEvent::Finished(Box::new(answer)));
    };
    let work = crate::context::carry(work).instrument(tracing::Span::current());
    drop(state.runs().detach(work));
    Ok(live::Streamed {
        execution_id,
        events: receiver,
        stop,
    })
}

/// Carries `work` on in a task of its own (with the request's id and span), so it finishes,
/// and its outcome is recorded, even if the request is dropped; shutdown waits for it within
/// its grace period.
pub async fn detached<T, E>(
    state: &AppState,
    work: impl Future<Output = Result<T, E>> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<anyhow::Error> + Send + 'static,
{
    let work = crate::context::carry(work).instrument(tracing::Span::current());
    match state.runs().detach(work).await {
        Ok(result) => result,
        Err(failed) => Err(anyhow::Error::new(failed)
            .context("the run's task failed")
            .into()),
    }
}

/// A run admitted on this node with what it needs, not yet on the record: dropping it (its
/// client went away while it waited) leaves nothing to account for, as nothing ran.
pub struct Admitted {
    execution_id: Uuid,
    request: RunRequest,
    env_mount: Option<EnvMount>,
    permit: RunPermit,
    /// The run counted against its owner's day (given back if it never starts).
    ticket: crate::quotas::RunTicket,
    secrets: secrets::OpenSecrets,
    egress: Option<RunListener>,
    /// Fired by the owner's cancel, or by a streaming client going away.
    cancel: CancellationToken,
    /// The run is in [`live::Cancels`] from admission until its sandbox ended.
    registered: live::Registered,
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
    /// The request gave `outputFiles`: the answer carries `files`.
    wants_files: bool,
    /// It was stopped before it ended (`result` holds the output seen until then).
    cancelled: bool,
    /// Its CPU time, added to its owner's day with its outcome ([`record::end`]).
    cpu: Option<CpuCharge>,
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
    user: &Caller,
    request: RunRequest,
) -> Result<Admitted, RunError> {
    let execution_id = Uuid::now_v7();
    let settings = &request.settings;
    // Three independent round trips at once: nothing is built and no secret is opened unless
    // the reservation holds and every secret the run names exists.
    let (ticket, stored, sealed) = tokio::join!(
        crate::quotas::reserve_run(state, user.user_id),
        packages::stored(state, user, settings.language),
        secrets::sealed_for_run(state, user, &settings.secrets),
    );
    let (ticket, sealed) = (ticket?, sealed?);
    let env_mount =
        packages::resolve(state, user, settings.language, &settings.packages, stored?).await?;
    let permit = state.runs().admit(user.user_id).await.map_err(|refused| {
        state.metrics().refused_busy();
        RunError::from(refused)
    })?;
    let secrets = secrets::open_rows(state, user, sealed)?;
    let egress = start_egress(state, user, execution_id, request.settings.network).await?;
    // Stoppable as soon as its id can be known (a streamed run's `start` event).
    let cancel = CancellationToken::new();
    let registered = state
        .cancels()
        .register(execution_id, user.user_id, cancel.clone());
    Ok(Admitted {
        execution_id,
        request,
        env_mount,
        permit,
        ticket,
        secrets,
        egress,
        cancel,
        registered,
    })
}

impl Admitted {
    /// The run's id (its audit entries and `POST /api/v1/executions/{id}/cancel` use it).
    pub fn execution_id(&self) -> Uuid {
        self.execution_id
    }
}

/// Puts the run on the record, then runs it in the sandbox, its output handed to `live` as it
/// comes; it stops when its token fires (the owner's cancel through [`live::Cancels`], or a
/// streaming client going away). An error means its program did not run (a sandbox failure
/// is on the record).
pub async fn launch(
    state: &AppState,
    user: &Caller,
    run: Admitted,
    live: Live,
) -> Result<Ran, RunError> {
    let Admitted {
        execution_id,
        request,
        env_mount,
        permit,
        ticket,
        secrets,
        egress,
        cancel,
        registered,
    } = run;
    let language = request.settings.language.as_str();
    let wants_files = request.settings.files.output.is_some();
    let mut subject = audit_subject(&request, execution_id);
    let started = started_details(&subject, &request, &secrets, execution_id);
    record::begin(
        state,
        user,
        &subject,
        (execution_id, request.settings.timeout_ms),
        started,
    )
    .await?;
    let job = sandbox_job(
        state,
        request,
        env_mount.as_ref(),
        &secrets,
        egress.as_ref(),
    );
    let result = run_charged(state, ticket, job, &secrets, (&live, &cancel)).await;
    drop((registered, permit));
    let egress = finish_egress(egress, &mut subject.details).await;
    let (result, cancelled, cpu) = match result {
        Ok(ran) => ran,
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
        wants_files,
        cancelled,
        cpu,
    })
}

/// Runs `job` (the run is on the record: its ticket is kept) and works out the CPU time its
/// owner's day is charged with its outcome: as the sandbox measured it, or its wall-clock time
/// when it was killed before it could say (timeout, output cap, cancel).
async fn run_charged(
    state: &AppState,
    ticket: crate::quotas::RunTicket,
    job: Job,
    secrets: &secrets::OpenSecrets,
    (live, cancel): (&Live, &CancellationToken),
) -> Result<(JobResult, bool, Option<CpuCharge>), pyth_on_launcher::LaunchError> {
    let day = ticket.keep();
    let started = std::time::Instant::now();
    let (ran, cancelled) = live::run(state.launcher(), job, secrets, (live, cancel)).await?;
    let cpu_ms = ran
        .cpu_ms
        .unwrap_or_else(|| started.elapsed().as_secs_f64() * 1000.0);
    let charge = crate::quotas::cpu_charge(day, cpu_ms);
    Ok((ran, cancelled, charge))
}

/// The sandbox's job for `request`: its environment (packages, request variables, secrets),
/// its package mount and its egress socket.
fn sandbox_job(
    state: &AppState,
    request: RunRequest,
    env_mount: Option<&EnvMount>,
    secrets: &secrets::OpenSecrets,
    egress: Option<&RunListener>,
) -> Job {
    let mut env = run_env(env_mount, &request.settings.env, secrets);
    let settings = &request.settings;
    files::import_from_work(settings.language, &settings.files, &mut env);
    let binds = env_mount
        .iter()
        .map(|m| Bind::read_only(m.host_path.clone(), m.sandbox_path.clone()))
        .collect();
    let egress_spec = egress.map(|l| EgressSpec {
        socket: l.path().to_owned(),
    });
    job(state, request, env, binds, egress_spec)
}

/// The run's variables: the package environment's, the request's, then the secrets (which
/// win over same-named request variables).
pub(crate) fn run_env(
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

/// The run's egress proxy when it asked for the network: its socket is this run's identity
/// (user, bounds), set here, not by the program. (Sessions too: `execution_id` is then the
/// session's id.)
pub(crate) async fn start_egress(
    state: &AppState,
    user: &Caller,
    execution_id: Uuid,
    network: bool,
) -> Result<Option<RunListener>, RunError> {
    let Some(egress) = state.egress().filter(|_| network) else {
        return Ok(None);
    };
    let narrow = match state.store().get_egress_allow(user.user_id).await? {
        Some(hosts) => Some(
            pyth_on_egress::parse_patterns(&hosts.join(","))
                .map_err(|e| RunError::Internal(anyhow::Error::new(e)))?,
        ),
        None => None,
    };
    let listener = egress
        .start(state.store_arc(), user.user_id, execution_id, narrow)
        .map_err(|e| RunError::Internal(anyhow::Error::new(e).context("egress proxy")))?;
    Ok(Some(listener))
}

/// Stops the run's proxy, if it had one; its counts go into the audit details and the answer.
async fn finish_egress(
    listener: Option<RunListener>,
    details: &mut serde_json::Value,
) -> Option<EgressUsage> {
    let stats = listener?.finish().await;
    details["egress"] = json!({
        "requests": stats.requests, "bytes": stats.bytes, "denied": stats.denied,
    });
    Some(EgressUsage {
        requests: stats.requests,
        bytes: stats.bytes,
        denied: stats.denied,
    })
}

/// The sandbox job.
fn job(
    state: &AppState,
    request: RunRequest,
    env: Vec<(String, String)>,
    binds: Vec<Bind>,
    egress: Option<EgressSpec>,
) -> Job {
    let RunRequest { settings, program } = request;
    let files = settings.files;
    let (code, zk) = match program {
        Program::Source(code) => (code, None),
        Program::Zk(zk) => {
            let job = ZkJob {
                payload: zk.payload,
                password: zk.password,
                owner: zk.owner,
                name: zk.name,
            };
            (String::new(), Some(job))
        }
    };
    Job {
        language: settings.language,
        code,
        stdin: settings.stdin,
        args: settings.args,
        env,
        timeout_ms: Some(settings.timeout_ms),
        memory_mb: Some(settings.memory_mb),
        max_output_bytes: Some(state.settings().max_output_bytes),
        binds,
        zk,
        egress,
        files: files.input,
        output: files.output,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use zeroize::Zeroizing;

    /// A run's settings for the tests of the pipeline's steps.
    pub(super) fn settings() -> RunSettings {
        RunSettings {
            language: pyth_on_sandbox::Language::Python,
            stdin: String::new(),
            args: Vec::new(),
            env: vec![(
                VarName::parse("TOKEN", "env").unwrap(),
                "from-request".into(),
            )],
            timeout_ms: 1000,
            memory_mb: 128,
            packages: Vec::new(),
            network: false,
            secrets: crate::secrets::SecretSelection::default(),
            files: files::RunFiles::default(),
        }
    }

    #[test]
    fn a_secret_wins_over_a_request_variable_of_the_same_name() {
        let mount = EnvMount {
            key: "k".into(),
            host_path: PathBuf::from("/env"),
            sandbox_path: PathBuf::from("/opt/env"),
            env: vec![("PYTHONPATH".into(), "/opt/env".into())],
        };
        let secrets = vec![("TOKEN".to_string(), Zeroizing::new("sealed".to_string()))];
        let env = run_env(Some(&mount), &settings().env, &secrets);
        assert_eq!(
            env,
            vec![
                ("PYTHONPATH".to_string(), "/opt/env".to_string()),
                ("TOKEN".to_string(), "sealed".to_string()),
            ]
        );
    }
}
