//! The run record. A run is on the audit log (who ran what code, with which secrets) before
//! its program starts, as a `started` entry, and gets its outcome when it ends. A run its node
//! never finished (the node died, or stopped past its grace period) is closed as
//! `interrupted`: by that node at its next start, or by any node once the run's deadline has
//! passed.

use std::time::Duration;

use pyth_on_store::{AuditEvent, CpuCharge, OpenRun, StoreError};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Program, RunRequest};
use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::secrets;
use crate::state::AppState;

/// How long past its own time limit a run may still be open (sandbox start-up and teardown,
/// writing its outcome): after that, any node closes it.
const DEADLINE_MARGIN: time::Duration = time::Duration::minutes(5);

/// How often each node looks for runs past their deadline.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Stale runs closed per round of a sweep.
const SWEEP_BATCH: u32 = 100;

/// What the audit entries of a run say: its action, resource and details.
pub(super) struct AuditSubject {
    pub(super) action: Action,
    pub(super) resource: String,
    pub(super) details: serde_json::Value,
}

/// What the audit entries say about the code: a digest and a size, never the code. For a
/// zero-knowledge run the server does not know the code: the stored name and size only.
pub(super) fn audit_subject(request: &RunRequest, execution_id: Uuid) -> AuditSubject {
    let language = request.settings.language.as_str();
    match &request.program {
        Program::Source(code) => AuditSubject {
            action: Action::Execute,
            resource: execution_id.to_string(),
            details: json!({
                "language": language,
                "codeSha256": audit::code_digest(code.as_bytes()),
                "codeSize": code.len(),
            }),
        },
        Program::Zk(zk) => AuditSubject {
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
pub(super) fn started_details(
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
        ("timeoutMs", json!(request.settings.timeout_ms)),
        ("memoryMb", json!(request.settings.memory_mb)),
        ("network", json!(request.settings.network)),
        ("packages", json!(request.settings.packages)),
    ] {
        details[key] = value;
    }
    details
}

/// Puts the run on the record with its `started` entry (`details`); committed when this
/// returns, before anything of the program runs.
pub(super) async fn begin(
    state: &AppState,
    user: &Caller,
    subject: &AuditSubject,
    (execution_id, timeout_ms): (Uuid, u64),
    details: serde_json::Value,
) -> Result<(), StoreError> {
    let resource = Some(subject.resource.clone());
    let event = audit::by(
        user,
        subject.action,
        resource.clone(),
        Outcome::Started,
        details,
    );
    let timeout = time::Duration::milliseconds(i64::try_from(timeout_ms).unwrap_or(i64::MAX));
    let run = OpenRun {
        execution_id,
        user_id: user.user_id,
        node: node_name(state).to_owned(),
        action: subject.action.as_str().to_owned(),
        resource,
        ip: event.ip.clone(),
        auth_method: event.auth_method.clone(),
        api_key_id: event.api_key_id,
        started_at: event.at,
        deadline_at: event
            .at
            .saturating_add(timeout)
            .saturating_add(DEADLINE_MARGIN),
    };
    state.store().begin_run(&run, &event).await
}

/// Appends the run's outcome (`event`), adds its CPU time (`cpu`) to its owner's day and
/// takes it off the record, in one transaction.
pub(super) async fn end(
    state: &AppState,
    execution_id: Uuid,
    event: &AuditEvent,
    cpu: Option<CpuCharge>,
) -> Result<(), StoreError> {
    state.store().end_run(execution_id, event, cpu).await
}

/// This node's name on the record.
fn node_name(state: &AppState) -> &str {
    state
        .settings()
        .runs
        .node_name
        .as_deref()
        .unwrap_or_default()
}

/// At start, before serving: closes every run this node left open (it died during them) and
/// every run of any node past its deadline. Returns how many were closed.
pub async fn close_left_open(state: &AppState) -> Result<usize, StoreError> {
    close_stale(state, Some(node_name(state))).await
}

/// Every [`SWEEP_EVERY`], for as long as the server runs: closes runs of any node past their
/// deadline (a node that died and never came back).
pub fn spawn_sweeper(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(err) = close_stale(&state, None).await {
                tracing::warn!(error = %err, "could not close runs past their deadline");
            }
        }
    });
}

/// Closes the stale runs ([`pyth_on_store::RunRecordStore::stale_runs`]) as interrupted.
async fn close_stale(state: &AppState, own_node: Option<&str>) -> Result<usize, StoreError> {
    let mut closed = 0;
    // Bounded: a round that closes nothing new (another node raced it) still ends the sweep.
    for _ in 0..1000 {
        let now = OffsetDateTime::now_utc();
        let stale = state.store().stale_runs(own_node, now, SWEEP_BATCH).await?;
        for run in &stale {
            if state
                .store()
                .interrupt_run(run.execution_id, &interrupted(run, node_name(state)))
                .await?
            {
                closed += 1;
            }
        }
        if stale.len() < SWEEP_BATCH as usize {
            break;
        }
    }
    if closed > 0 {
        tracing::warn!(
            runs = closed,
            "runs left open by a stopped node closed as interrupted"
        );
    }
    Ok(closed)
}

/// The `interrupted` entry of an open run, attributed like its start.
fn interrupted(run: &OpenRun, closed_by: &str) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        user_id: run.user_id,
        at: OffsetDateTime::now_utc(),
        action: run.action.clone(),
        resource: run.resource.clone(),
        outcome: Outcome::Interrupted.as_str().to_owned(),
        ip: run.ip.clone(),
        auth_method: run.auth_method.clone(),
        api_key_id: run.api_key_id,
        details: json!({
            "executionId": run.execution_id,
            "node": run.node,
            "closedBy": closed_by,
            "reason": "the server running it stopped before the run ended",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::tests::settings;
    use zeroize::Zeroizing;

    #[test]
    fn the_audit_subject_of_a_run_holds_a_digest_of_the_code_never_the_code() {
        let request = RunRequest {
            settings: settings(),
            program: Program::Source("print('a secret plan')".into()),
        };
        let id = Uuid::now_v7();
        let subject = audit_subject(&request, id);
        assert_eq!(subject.action, Action::Execute);
        assert_eq!(subject.resource, id.to_string());
        let details = subject.details.to_string();
        assert!(!details.contains("secret plan"), "{details}");
        assert_eq!(subject.details["codeSize"], 22);
    }

    #[test]
    fn the_started_entry_names_the_secrets_and_settings_but_no_value() {
        let request = RunRequest {
            settings: settings(),
            program: Program::Source(String::new()),
        };
        let id = Uuid::now_v7();
        let secrets = vec![("TOKEN".to_string(), Zeroizing::new("sealed".to_string()))];
        let details = started_details(&audit_subject(&request, id), &request, &secrets, id);
        assert_eq!(details["secrets"], json!(["TOKEN"]));
        assert_eq!(details["timeoutMs"], 1000);
        assert!(!details.to_string().contains("sealed"));
    }
}
