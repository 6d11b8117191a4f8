//! How a run ends on the record and in its answer: the program's output (redacted) for a
//! finished run, a refusal when a zero-knowledge payload did not decrypt, a 503 when the
//! sandbox failed. Each appends the run's outcome and takes it off the record.

use pyth_on_launcher::LaunchError;
use pyth_on_sandbox::ZkOutcome;
use pyth_on_store::CpuCharge;
use pyth_on_types::ExecuteResponse;
use serde_json::json;
use uuid::Uuid;

use super::{record, AuditSubject, Ran, RunError};
use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::state::AppState;

/// The outcome (and answer) of a run the sandbox could not run.
pub(super) async fn sandbox_failed(
    state: &AppState,
    user: &Caller,
    (execution_id, language): (Uuid, &'static str),
    subject: AuditSubject,
    err: LaunchError,
) -> RunError {
    let AuditSubject {
        action,
        resource,
        mut details,
    } = subject;
    let missing = matches!(err, LaunchError::RuntimeMissing(_));
    details["reason"] = json!(if missing {
        "unsupported_language"
    } else {
        "sandbox_unavailable"
    });
    let event = audit::by(user, action, Some(resource), Outcome::Failure, details);
    if let Err(store_err) = record::end(state, execution_id, &event, None).await {
        return store_err.into();
    }
    if missing {
        return RunError::RuntimeMissing(language);
    }
    tracing::error!(execution.id = %execution_id, error = %err, "sandbox failed");
    state.metrics().run(crate::metrics::RunKind::Failed, 0);
    RunError::SandboxFailed
}

/// The outcome and the answer of a run the sandbox finished: a refusal when a zero-knowledge
/// payload did not decrypt (nothing ran), else the program's output, redacted.
pub async fn finish(
    state: &AppState,
    user: &Caller,
    ran: Ran,
) -> Result<ExecuteResponse, RunError> {
    let Ran {
        execution_id,
        language,
        subject,
        secrets,
        egress,
        result,
        wants_files,
        cancelled,
        cpu,
    } = ran;
    if let Some(outcome) = result.zk.filter(|z| *z != ZkOutcome::Decrypted) {
        let run = (execution_id, outcome, cpu);
        return Err(refuse_undecrypted(state, user, run, subject).await);
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
        output: crate::redact::redact(&result.stdout, &secrets),
        error: crate::redact::redact(&result.stderr, &secrets),
        exit_code: result.exit_code,
        language: language.to_string(),
        duration_ms,
        timed_out: result.timed_out,
        memory_exceeded: result.memory_exceeded,
        output_truncated: result.output_truncated,
        execution_id,
        zero_knowledge: None,
        egress,
        files: wants_files.then(|| super::files::answer_files(result.files, &secrets)),
        files_truncated: result.files_truncated.then_some(true),
        cancelled: cancelled.then_some(true),
    };
    let event = outcome_event(user, subject, &response, (secrets.len(), cancelled));
    record::end(state, execution_id, &event, cpu).await?;
    Ok(response)
}

/// The audit entry that ends a finished run: its flags, and `failure` with `reason:
/// cancelled` when it was stopped (it did not end on its own).
fn outcome_event(
    user: &Caller,
    subject: AuditSubject,
    response: &ExecuteResponse,
    (secrets_injected, cancelled): (usize, bool),
) -> pyth_on_store::AuditEvent {
    let AuditSubject {
        action,
        resource,
        mut details,
    } = subject;
    for (key, value) in [
        ("exitCode", json!(response.exit_code)),
        ("durationMs", json!(response.duration_ms)),
        ("timedOut", json!(response.timed_out)),
        ("memoryExceeded", json!(response.memory_exceeded)),
        ("outputTruncated", json!(response.output_truncated)),
        ("secretsInjected", json!(secrets_injected)),
    ] {
        details[key] = value;
    }
    if let Some(files) = &response.files {
        details["outputFiles"] = json!(files.len());
    }
    // The run is over either way; its entry says whether the program succeeded, and why not.
    let reason = if cancelled {
        Some("cancelled")
    } else if response.timed_out {
        Some("timed_out")
    } else if response.memory_exceeded {
        Some("memory_exceeded")
    } else if response.exit_code != 0 {
        Some("exit_code")
    } else {
        None
    };
    let outcome = match reason {
        Some(reason) => {
            details["reason"] = json!(reason);
            Outcome::Failure
        }
        None => Outcome::Success,
    };
    audit::by(user, action, Some(resource), outcome, details)
}

/// Closes a zero-knowledge run whose payload did not decrypt and answers: 403 for a wrong
/// password (`zk.wrong_password`), 422 when it was tampered with or moved.
async fn refuse_undecrypted(
    state: &AppState,
    user: &Caller,
    (execution_id, outcome, cpu): (Uuid, ZkOutcome, Option<CpuCharge>),
    subject: AuditSubject,
) -> RunError {
    let AuditSubject {
        action,
        resource,
        mut details,
    } = subject;
    let (event, refusal) = if outcome == ZkOutcome::WrongPassword {
        let event = audit::by(
            user,
            Action::ZkWrongPassword,
            Some(resource),
            Outcome::Denied,
            details,
        );
        (event, RunError::ZkWrongPassword)
    } else {
        details["reason"] = json!("integrity");
        let event = audit::by(user, action, Some(resource), Outcome::Failure, details);
        (event, RunError::ZkIntegrity)
    };
    match record::end(state, execution_id, &event, cpu).await {
        Ok(()) => refusal,
        Err(err) => err.into(),
    }
}
