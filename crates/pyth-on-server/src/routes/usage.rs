//! `GET /api/v1/usage`: the caller's use of each quota today (UTC) with its limit and reset
//! time ([`crate::usage::of`]).

use axum::extract::State;
use pyth_on_types::Usage;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::http::json::AppJson;
use crate::state::AppState;

/// The caller's runs and CPU seconds today (UTC), sessions open on every node and storage
/// held, each with its limit (`null`: unlimited) and, for the daily ones, when they reset
/// (the next 00:00 UTC). Past a quota, requests answer 429 `quota_exceeded`.
#[utoipa::path(get, path = "/api/v1/usage", tag = "Usage",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Usage)))]
pub async fn get_usage(
    State(state): State<AppState>,
    user: Caller,
) -> Result<AppJson<Usage>, ApiError> {
    Ok(AppJson(crate::usage::of(&state, user.user_id).await?))
}
