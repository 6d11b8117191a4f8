//! `POST /api/v1/execute`.

use axum::extract::State;
use pyth_on_types::{ExecuteRequest, ExecuteResponse};

use crate::error::ApiError;
use crate::execution::{self, RunRequest};
use crate::http::auth::AuthUser;
use crate::http::json::AppJson;
use crate::state::AppState;

/// Run code once in a fresh sandbox. A failing program is still a 200; 4xx means it never ran.
#[utoipa::path(post, path = "/api/v1/execute", tag = "Execute", request_body = ExecuteRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ExecuteResponse),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid field, unsupported_language, network_disabled"),
        (status = 401, body = pyth_on_types::ErrorBody), (status = 413, body = pyth_on_types::ErrorBody),
        (status = 429, body = pyth_on_types::ErrorBody),
        (status = 503, body = pyth_on_types::ErrorBody, description = "sandbox_unavailable, with Retry-After")))]
pub async fn execute(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(body): AppJson<ExecuteRequest>,
) -> Result<AppJson<ExecuteResponse>, ApiError> {
    let request = RunRequest::parse(&state, body)?;
    Ok(AppJson(execution::run(&state, &user, request).await?))
}
