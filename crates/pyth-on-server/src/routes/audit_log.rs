//! Reading and verifying the caller's own audit chain.

use axum::extract::{Query, State};
use pyth_on_store::AuditEntry as Row;
use pyth_on_types::{AuditEntry, AuditPage, AuditVerification};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::audit_log::{self, AuditFilter};
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
        query.map_err(|e| ApiError::bad_request(crate::http::json::query_error(&e)))?;
    let filter = AuditFilter::parse(query.limit, query.before.as_deref(), query.action)?;
    let page = audit_log::page(&state, &user, &filter).await?;
    Ok(AppJson(AuditPage {
        entries: page.entries.into_iter().map(to_wire).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Recomputes the caller's whole chain.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "Audit", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = AuditVerification)))]
pub async fn verify_audit(
    State(state): State<AppState>,
    user: Caller,
) -> Result<AppJson<AuditVerification>, ApiError> {
    let result = audit_log::verify(&state, &user).await?;
    Ok(AppJson(AuditVerification {
        valid: result.valid,
        entries: result.entries,
        head: result.head,
        first_invalid: result.first_invalid,
    }))
}
