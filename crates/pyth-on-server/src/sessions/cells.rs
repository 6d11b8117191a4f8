//! Cells: one at a time per session ([`SessionError::Busy`]), an execution slot held only
//! while one runs, the answer redacted, every cell on the audit record (a digest of its code),
//! and the session ended with a cell that ended its kernel; a running cell interrupted on
//! request.

use std::sync::Arc;

use pyth_on_launcher::{CellOutcome, LaunchError, OutputSink};
use pyth_on_types::{CellFailure, CellOutput, CellResponse};
use serde_json::json;
use uuid::Uuid;

use super::{end, get, records, Cell, EndReason, Entry, SessionError};
use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::execution::{detached, RunError};
use crate::metrics::CellKind;
use crate::redact::{redact, OpenSecrets};
use crate::state::AppState;

/// Runs `cell` in the caller's session `id`: one cell at a time ([`SessionError::Busy`]),
/// holding an execution slot only while it runs. A cell that ended the kernel ends the session.
pub async fn execute(
    state: &AppState,
    user: &Caller,
    id: Uuid,
    cell: Cell,
) -> Result<CellResponse, SessionError> {
    let entry = get(state, user, id)?;
    let (owned, user) = (state.clone(), *user);
    detached(state, async move {
        run_cell(&owned, &user, entry, cell, None).await
    })
    .await
}

/// Interrupts the cell running in the caller's session `id` (SIGINT to its kernel, sent by
/// its runner): `false` when none runs. An interrupt is on the audit record
/// (`session.interrupt`); an idle session's is not (nothing happened).
pub async fn interrupt(state: &AppState, user: &Caller, id: Uuid) -> Result<bool, SessionError> {
    let entry = get(state, user, id)?;
    if !entry.interrupter.interrupt() {
        return Ok(false);
    }
    let event = audit::by(
        user,
        Action::SessionInterrupt,
        Some(entry.id.to_string()),
        Outcome::Success,
        json!({}),
    );
    state.store().append_audit(&event).await?;
    Ok(true)
}

/// Runs `cell`, handing its raw output to `sink` as it comes (dropped when the cell is over).
pub(super) async fn run_cell(
    state: &AppState,
    user: &Caller,
    entry: Arc<Entry>,
    cell: Cell,
    sink: Option<OutputSink>,
) -> Result<CellResponse, SessionError> {
    let mut kernel = entry.kernel.try_lock().map_err(|_| SessionError::Busy)?;
    let ticket = crate::quotas::reserve_run(state, user.user_id)
        .await
        .map_err(RunError::from)?;
    let permit = state.runs().admit(user.user_id).await.map_err(|refused| {
        state.metrics().cell(CellKind::RefusedBusy, 0);
        SessionError::Run(refused.into())
    })?;
    entry.touch();
    let day = ticket.keep();
    let started = std::time::Instant::now();
    let ran = kernel.cell(&cell.code, cell.timeout, sink.as_ref()).await;
    drop((permit, kernel, sink));
    // A session's interpreter is not measured per cell: a cell costs its wall-clock time.
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    crate::quotas::charge_cpu(state, user.user_id, day, wall_ms).await;
    entry.touch();
    records::touched(state, &entry);
    let digest = json!({
        "codeSha256": audit::code_digest(cell.code.as_bytes()),
        "codeBytes": cell.code.len(),
    });
    match ran {
        Ok(outcome) => settle(state, user, &entry, &outcome, digest).await,
        Err(err) => lost(state, user, &entry, err, digest).await,
    }
}

/// A cell that answered: its answer (redacted) and its entry; the session ends here if the
/// kernel ended with the cell.
async fn settle(
    state: &AppState,
    user: &Caller,
    entry: &Entry,
    outcome: &CellOutcome,
    digest: serde_json::Value,
) -> Result<CellResponse, SessionError> {
    let answer = answer(outcome, &entry.secrets);
    let kind = match (answer.session_ended, answer.timed_out) {
        (true, _) => CellKind::EndedSession,
        (false, true) => CellKind::TimedOut,
        (false, false) => CellKind::Completed,
    };
    state.metrics().cell(kind, answer.duration_ms as u64);
    if answer.session_ended && state.sessions().remove(entry.owner(), entry.id).is_some() {
        let details =
            json!({ "exitCode": answer.exit_code, "memoryExceeded": answer.memory_exceeded });
        end(state, user, entry, EndReason::Exited, details).await;
    }
    let fine = answer.error.is_none() && !answer.timed_out;
    let outcome = if fine {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    record_cell(state, user, entry, digest, outcome).await?;
    Ok(answer)
}

/// A cell whose sandbox failed (or was closed under it): the session is over.
async fn lost(
    state: &AppState,
    user: &Caller,
    entry: &Entry,
    err: LaunchError,
    digest: serde_json::Value,
) -> Result<CellResponse, SessionError> {
    if !matches!(err, LaunchError::Closed) {
        tracing::warn!(error = %err, session = %entry.id, "a session's sandbox failed");
    }
    state.metrics().cell(CellKind::EndedSession, 0);
    if state.sessions().remove(entry.owner(), entry.id).is_some() {
        let details = json!({ "error": err.to_string() });
        end(state, user, entry, EndReason::Exited, details).await;
    }
    record_cell(state, user, entry, digest, Outcome::Failure).await?;
    Err(match err {
        LaunchError::Closed => SessionError::NotFound,
        _ => SessionError::SandboxFailed,
    })
}

async fn record_cell(
    state: &AppState,
    user: &Caller,
    entry: &Entry,
    details: serde_json::Value,
    outcome: Outcome,
) -> Result<(), SessionError> {
    let event = audit::by(
        user,
        Action::SessionExecute,
        Some(entry.id.to_string()),
        outcome,
        details,
    );
    state.store().append_audit(&event).await?;
    Ok(())
}

/// A cell's answer with every secret value redacted (output, error, text results).
pub fn answer(outcome: &CellOutcome, secrets: &OpenSecrets) -> CellResponse {
    let cell = &outcome.cell;
    let results = cell
        .results
        .iter()
        .map(|r| CellOutput {
            mime: r.mime.clone(),
            data: if is_text(&r.mime) {
                redact(&r.data, secrets)
            } else {
                r.data.clone()
            },
        })
        .collect();
    let error = cell.error.as_ref().map(|e| CellFailure {
        name: redact(&e.name, secrets),
        message: redact(&e.message, secrets),
        traceback: redact(&e.traceback, secrets),
    });
    let ended = outcome.ended.as_ref();
    CellResponse {
        stdout: redact(&outcome.stdout, secrets),
        stderr: redact(&outcome.stderr, secrets),
        results,
        results_truncated: cell.results_truncated,
        error,
        timed_out: cell.timed_out,
        interrupted: cell.interrupted,
        output_truncated: cell.output_truncated,
        memory_exceeded: cell.memory_exceeded || ended.is_some_and(|r| r.memory_exceeded),
        session_ended: cell.session_ended || ended.is_some(),
        exit_code: ended.map(|r| r.exit_code),
        duration_ms: cell.duration_ms,
    }
}

/// Text the kernel gives as is (binary types come base64-encoded and are left alone).
fn is_text(mime: &str) -> bool {
    mime.starts_with("text/") || mime.ends_with("json") || mime.ends_with("+xml")
}

#[cfg(test)]
mod tests {
    use pyth_on_launcher::{CellError, CellResult, RichResult};
    use zeroize::Zeroizing;

    use super::*;

    #[test]
    fn a_cells_answer_has_secret_values_redacted_in_text_but_not_in_binary_results() {
        let secrets = vec![("TOKEN".to_string(), Zeroizing::new("hunter22".to_string()))];
        let rich = |mime: &str| RichResult {
            mime: mime.into(),
            data: "hunter22".into(),
        };
        let outcome = CellOutcome {
            cell: CellResult {
                results: vec![rich("text/plain"), rich("image/png")],
                error: Some(CellError {
                    name: "ValueError".into(),
                    message: "bad hunter22".into(),
                    traceback: "at hunter22".into(),
                }),
                ..Default::default()
            },
            stdout: "hunter22\n".into(),
            stderr: "x hunter22".into(),
            ended: None,
        };
        let answer = answer(&outcome, &secrets);
        assert_eq!(
            (answer.stdout.as_str(), answer.stderr.as_str()),
            ("***\n", "x ***")
        );
        assert_eq!(answer.results[0].data, "***");
        assert_eq!(answer.results[1].data, "hunter22");
        let error = answer.error.unwrap();
        assert_eq!(
            (error.message.as_str(), error.traceback.as_str()),
            ("bad ***", "at ***")
        );
        assert!(!answer.session_ended);
    }
}
