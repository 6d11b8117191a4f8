//! A session's files (`/api/v1/sessions/{id}/files`): upload a raw body, download raw bytes,
//! list a directory, delete. Paths are relative to the session's working directory `/work`
//! and follow the rules of a run's files; the session's kernel does the work inside its
//! sandbox. Another user's session is not found.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use pyth_on_types::{SessionFile, SessionFileList};
use serde::Deserialize;
use utoipa::OpenApi;

use super::sessions::session_id;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::http::json::AppJson;
use crate::sessions::files;
use crate::state::AppState;

/// The file routes take a multi-segment path (`{*path}`), which `routes!` cannot register:
/// they are added to the router by hand and documented through this.
#[derive(Debug, OpenApi)]
#[openapi(paths(put_file, get_file, delete_file))]
pub struct FileRoutes;

/// The route of one file (axum's syntax).
pub const FILE_ROUTE: &str = "/api/v1/sessions/{id}/files/{*path}";

/// Where to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Directory to list, relative to `/work` (default: `/work` itself).
    #[serde(default)]
    pub dir: String,
}

/// Write a file into a session's working directory: the raw request body is its content
/// (any content type). Parent directories are created; an existing file is replaced.
#[utoipa::path(put, path = "/api/v1/sessions/{id}/files/{path}", operation_id = "put_session_file", tag = "Sessions",
    params(("id" = Uuid, Path, description = "session id"),
        ("path" = String, Path, description = "relative path under `/work` (may contain `/`)")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = SessionFile),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid_path: absolute, `..`, control characters, too long or too deep"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found: no open session of yours has this id"),
        (status = 409, body = pyth_on_types::ErrorBody, description = "session_busy: a cell or another file operation of this session is running"),
        (status = 413, body = pyth_on_types::ErrorBody, description = "payload_too_large: over `--max-input-file-bytes`"),
        (status = 422, body = pyth_on_types::ErrorBody, description = "no_space: the session's working directory is full; wrong_file_type: the path is a directory; file_operation_failed")))]
pub async fn put_file(
    State(state): State<AppState>,
    user: Caller,
    Path((id, path)): Path<(String, String)>,
    body: Bytes,
) -> Result<AppJson<SessionFile>, ApiError> {
    let id = session_id(&id)?;
    let written = files::put(&state, &user, id, &path, Vec::from(body)).await?;
    Ok(AppJson(written))
}

/// Read a file of a session's working directory: its raw bytes.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/files/{path}", operation_id = "get_session_file", tag = "Sessions",
    params(("id" = Uuid, Path, description = "session id"),
        ("path" = String, Path, description = "relative path under `/work` (may contain `/`)")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The file's content", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid_path"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found: no open session of yours has this id; file_not_found: no such file in it"),
        (status = 409, body = pyth_on_types::ErrorBody, description = "session_busy"),
        (status = 422, body = pyth_on_types::ErrorBody, description = "wrong_file_type: not a regular file (a directory, a link, a FIFO); file_too_large: over `--max-output-files-bytes`")))]
pub async fn get_file(
    State(state): State<AppState>,
    user: Caller,
    Path((id, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = session_id(&id)?;
    let content = files::read(&state, &user, id, &path).await?;
    let headers = [(header::CONTENT_TYPE, "application/octet-stream")];
    Ok((headers, content).into_response())
}

/// List one directory of a session's working directory (not recursive; links not followed).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/files", operation_id = "list_session_files", tag = "Sessions",
    params(("id" = Uuid, Path, description = "session id"), ListQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = SessionFileList),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid_path"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found: no open session of yours has this id; file_not_found: no such directory in it"),
        (status = 409, body = pyth_on_types::ErrorBody, description = "session_busy"),
        (status = 422, body = pyth_on_types::ErrorBody, description = "wrong_file_type: not a directory")))]
pub async fn list_files(
    State(state): State<AppState>,
    user: Caller,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<AppJson<SessionFileList>, ApiError> {
    let id = session_id(&id)?;
    Ok(AppJson(files::list(&state, &user, id, &query.dir).await?))
}

/// Delete a file, a link, or a directory and everything in it.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}/files/{path}", operation_id = "delete_session_file", tag = "Sessions",
    params(("id" = Uuid, Path, description = "session id"),
        ("path" = String, Path, description = "relative path under `/work` (may contain `/`)")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid_path"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found: no open session of yours has this id; file_not_found: no such file in it"),
        (status = 409, body = pyth_on_types::ErrorBody, description = "session_busy")))]
pub async fn delete_file(
    State(state): State<AppState>,
    user: Caller,
    Path((id, path)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = session_id(&id)?;
    files::delete(&state, &user, id, &path).await?;
    Ok(StatusCode::NO_CONTENT)
}
