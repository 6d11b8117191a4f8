//! The caller's own egress allow-list: `GET`, `PUT` (replace) and `DELETE` (back to no
//! narrowing) `/api/v1/egress/allow`. Changes are audited (`egress.allow.set`,
//! `egress.allow.delete`). The list narrows the server's policy for the caller's runs; it can
//! never widen it.

use axum::extract::State;
use axum::http::StatusCode;
use pyth_on_egress::HostPattern;
use pyth_on_types::{EgressAllowList, SetEgressAllowRequest};
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::error::ApiError;
use crate::http::json::AppJson;
use crate::state::AppState;

/// Most patterns in one user's list.
pub const MAX_ALLOW_HOSTS: usize = 100;

/// The caller's allow-list (`hosts: null` when none is set).
#[utoipa::path(get, path = "/api/v1/egress/allow", tag = "Egress",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = EgressAllowList)))]
pub async fn get_allow(
    State(state): State<AppState>,
    user: Caller,
) -> Result<AppJson<EgressAllowList>, ApiError> {
    let hosts = state.store().get_egress_allow(user.user_id).await?;
    Ok(AppJson(EgressAllowList { hosts }))
}

/// Replaces the caller's allow-list; runs with `network` may then reach only hosts that match
/// it *and* the server's policy.
#[utoipa::path(put, path = "/api/v1/egress/allow", tag = "Egress", request_body = SetEgressAllowRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = EgressAllowList, description = "the stored, normalised list"),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid_host_pattern (names it), too_many_items")))]
pub async fn set_allow(
    State(state): State<AppState>,
    user: Caller,
    AppJson(body): AppJson<SetEgressAllowRequest>,
) -> Result<AppJson<EgressAllowList>, ApiError> {
    if body.hosts.len() > MAX_ALLOW_HOSTS {
        return Err(ApiError::bad_request_code(
            "too_many_items",
            format!("an allow-list holds at most {MAX_ALLOW_HOSTS} patterns"),
        ));
    }
    let mut hosts = Vec::with_capacity(body.hosts.len());
    for raw in &body.hosts {
        let pattern = HostPattern::parse(raw)
            .map_err(|e| ApiError::bad_request_code("invalid_host_pattern", e.to_string()))?;
        let pattern = pattern.to_string();
        if !hosts.contains(&pattern) {
            hosts.push(pattern);
        }
    }
    let event = audit::by(
        &user,
        Action::EgressAllowSet,
        None,
        Outcome::Success,
        json!({ "hosts": hosts }),
    );
    state
        .store()
        .set_egress_allow(user.user_id, &hosts, OffsetDateTime::now_utc(), &event)
        .await?;
    Ok(AppJson(EgressAllowList { hosts: Some(hosts) }))
}

/// Removes the caller's allow-list (the server's policy alone applies again).
#[utoipa::path(delete, path = "/api/v1/egress/allow", tag = "Egress",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = pyth_on_types::ErrorBody, description = "not_found: no list was set")))]
pub async fn delete_allow(
    State(state): State<AppState>,
    user: Caller,
) -> Result<StatusCode, ApiError> {
    let event = audit::by(
        &user,
        Action::EgressAllowDelete,
        None,
        Outcome::Success,
        json!({}),
    );
    if state
        .store()
        .delete_egress_allow(user.user_id, &event)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("egress allow-list"))
    }
}
