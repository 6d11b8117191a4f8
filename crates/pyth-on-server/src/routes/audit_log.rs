//! Reading and verifying the caller's own audit chain.

use axum::extract::{Query, State};
use pyth_on_store::{verify_chain, AuditEntry as Row};
use pyth_on_types::{AuditEntry, AuditPage, AuditVerification};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::http::json::AppJson;
use crate::state::AppState;

/// Query of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries per page, 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// The `nextCursor` of the previous page (a positive integer); empty means the first page.
    #[param(pattern = "^([1-9][0-9]{0,17})?$")]
    before: Option<String>,
    /// Only actions starting with this, e.g. `auth.` or `secret.put`; at most 64 bytes.
    #[param(max_length = 64)]
    action: Option<String>,
}

/// A `nextCursor`: a positive decimal number of at most 18 digits, written as the server
/// writes it (no sign, no leading zero), the rule the document's pattern states.
fn parse_cursor(raw: &str) -> Option<i64> {
    let canonical = (1..=18).contains(&raw.len())
        && !raw.starts_with('0')
        && raw.bytes().all(|b| b.is_ascii_digit());
    canonical.then(|| raw.parse().ok()).flatten()
}

fn to_wire(row: Row) -> AuditEntry {
    AuditEntry {
        id: row.id,
        timestamp: row.at,
        action: row.action,
        resource: row.resource,
        outcome: row.outcome,
        ip: row.ip,
        auth_method: row.auth_method,
        api_key_id: row.api_key_id,
        details: row.details,
        hash: row.hash,
        prev_hash: row.prev_hash,
    }
}

/// The caller's audit entries, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "Audit", params(AuditQuery), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = AuditPage),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed (limit, before or action out of range), invalid_request (an unknown or malformed parameter)")))]
pub async fn list_audit(
    State(state): State<AppState>,
    user: Caller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<AppJson<AuditPage>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "must be between 1 and 200",
        ));
    }
    let before = match query.before.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(parse_cursor(raw).ok_or_else(|| {
            ApiError::invalid_field("before", "must be a cursor from nextCursor")
        })?),
    };
    if query.action.as_ref().is_some_and(|a| a.len() > 64) {
        return Err(ApiError::invalid_field(
            "action",
            "must be at most 64 characters",
        ));
    }
    // One more than asked tells whether another page exists.
    let mut rows = state
        .store()
        .list_audit(
            user.user_id,
            limit + 1,
            before,
            query.action.as_deref().filter(|a| !a.is_empty()),
        )
        .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    Ok(AppJson(AuditPage {
        entries: rows.into_iter().map(to_wire).collect(),
        next_cursor,
    }))
}

/// Recomputes the caller's whole chain.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "Audit", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = AuditVerification)))]
pub async fn verify_audit(
    State(state): State<AppState>,
    user: Caller,
) -> Result<AppJson<AuditVerification>, ApiError> {
    let chain = state.store().audit_chain(user.user_id).await?;
    let result = verify_chain(&chain);
    let first_invalid = result
        .first_invalid_seq
        .and_then(|seq| chain.iter().find(|e| e.seq == seq).map(|e| e.id));
    Ok(AppJson(AuditVerification {
        valid: result.valid,
        entries: result.entries as u64,
        head: result.head,
        first_invalid,
    }))
}
