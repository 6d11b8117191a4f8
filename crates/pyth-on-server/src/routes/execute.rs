//! `POST /api/v1/execute`.

use axum::extract::State;
use pyth_on_types::{ExecuteRequest, ExecuteResponse};

use crate::caller::Caller;
use crate::error::ApiError;
use crate::execution::{self, RunRequest};
use crate::http::json::AppJson;
use crate::state::AppState;

/// Run code once in a fresh sandbox. A failing program is still a 200; 4xx means it never ran.
#[utoipa::path(post, path = "/api/v1/execute", operation_id = "execute", tag = "Execute", request_body = ExecuteRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ExecuteResponse),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed (details names the field), unsupported_language, network_disabled, too_many_packages, invalid_package, invalid_name and reserved_name (an env name), packages_unavailable (packages asked for on a server without them)"),
        (status = 413, body = pyth_on_types::ErrorBody, description = "payload_too_large: the code is over `--max-code-bytes`"),
        (status = 422, body = pyth_on_types::ErrorBody, description = "package_install_failed: the run's packages could not be installed"),
        (status = 429, body = pyth_on_types::ErrorBody, description = "too_many_runs: your share of the run queue is full; too_many_builds"),
        (status = 503, body = pyth_on_types::ErrorBody, description = "sandbox_unavailable (Retry-After), package_builds_busy (Retry-After)")))]
pub async fn execute(
    State(state): State<AppState>,
    user: Caller,
    AppJson(body): AppJson<ExecuteRequest>,
) -> Result<AppJson<ExecuteResponse>, ApiError> {
    let request = RunRequest::parse(&state, body)?;
    Ok(AppJson(execution::run(&state, &user, request).await?))
}
