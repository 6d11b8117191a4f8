//! The caller's own egress allow-list: `GET`, `PUT` (replace) and `DELETE` (back to no
//! narrowing) `/api/v1/egress/allow`. Changes are audited (`egress.allow.set`,
//! `egress.allow.delete`). The list narrows the server's policy for the caller's runs; it can
//! never widen it.

use axum::extract::State;
use axum::http::StatusCode;
use pyth_on_types::{EgressAllowList, SetEgressAllowRequest};

use crate::allow_list::{self, AllowList};
use crate::caller::Caller;
use crate::error::ApiError;
use crate::http::json::AppJson;
use crate::state::AppState;

/// The caller's allow-list (`hosts: null` when none is set).
#[utoipa::path(get, path = "/api/v1/egress/allow", tag = "Egress",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = EgressAllowList)))]
pub async fn get_allow(
    State(state): State<AppState>,
    user: Caller,
) -> Result<AppJson<EgressAllowList>, ApiError> {
    let hosts = allow_list::get(&state, &user).await?;
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
    let list = AllowList::parse(&body.hosts)?;
    allow_list::set(&state, &user, &list).await?;
    Ok(AppJson(EgressAllowList {
        hosts: Some(list.hosts().to_vec()),
    }))
}

/// Removes the caller's allow-list (the server's policy alone applies again).
#[utoipa::path(delete, path = "/api/v1/egress/allow", tag = "Egress",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = pyth_on_types::ErrorBody, description = "not_found: no list was set")))]
pub async fn delete_allow(
    State(state): State<AppState>,
    user: Caller,
) -> Result<StatusCode, ApiError> {
    allow_list::delete(&state, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}
