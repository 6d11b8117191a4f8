//! Secrets: put, delete, list. Values go in and never come out.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use pyth_on_store::{PutOutcome, SealedSecretRow};
use pyth_on_types::{SecretInput, SecretList, SecretMetadata};

use crate::caller::Caller;
use crate::domain::VarName;
use crate::error::ApiError;
use crate::http::json::AppJson;
use crate::secrets::{self, SecretValue};
use crate::state::AppState;

/// Create or replace a secret (201 created, 200 replaced).
#[utoipa::path(put, path = "/api/v1/secrets/{name}", tag = "Secrets", request_body = SecretInput,
    params(("name" = String, Path, description = "^[A-Z_][A-Z0-9_]{0,63}$, not reserved")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = SecretMetadata), (status = 200, body = SecretMetadata),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid_name, reserved_name, validation_failed (an empty value, or one with NUL), too_many_secrets (`--max-secrets-per-user`)"),
        (status = 409, body = pyth_on_types::ErrorBody, description = "concurrent_update: the secret kept changing while it was written; retry"),
        (status = 413, body = pyth_on_types::ErrorBody, description = "payload_too_large: the value is over `--max-secret-bytes`")))]
pub async fn put_secret(
    State(state): State<AppState>,
    user: Caller,
    Path(name): Path<String>,
    AppJson(body): AppJson<SecretInput>,
) -> Result<impl IntoResponse, ApiError> {
    let name = VarName::parse(&name, "name")?;
    let value = SecretValue::parse(&state, body.value)?;
    let (outcome, row) = secrets::put(&state, &user, &name, &value).await?;
    let status = match outcome {
        PutOutcome::Created => StatusCode::CREATED,
        PutOutcome::Replaced => StatusCode::OK,
    };
    Ok((status, AppJson(metadata_of(&row))))
}

fn metadata_of(row: &SealedSecretRow) -> SecretMetadata {
    SecretMetadata {
        name: row.name.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    }
}

/// Delete a secret.
#[utoipa::path(delete, path = "/api/v1/secrets/{name}", tag = "Secrets",
    params(("name" = String, Path, description = "a secret name; any other name is not found")), security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = pyth_on_types::ErrorBody, description = "not_found")))]
pub async fn delete_secret(
    State(state): State<AppState>,
    user: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    // A name that cannot exist is simply not found.
    let Ok(name) = VarName::parse(&name, "name") else {
        return Err(ApiError::NotFound("secret"));
    };
    if secrets::delete(&state, &user, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("secret"))
    }
}

/// List secret names, versions and times (never values).
#[utoipa::path(get, path = "/api/v1/secrets", tag = "Secrets", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = SecretList)))]
pub async fn list_secrets(
    State(state): State<AppState>,
    user: Caller,
) -> Result<AppJson<SecretList>, ApiError> {
    let rows = secrets::list(&state, &user).await?;
    Ok(AppJson(SecretList {
        secrets: rows
            .into_iter()
            .map(|m| SecretMetadata {
                name: m.name,
                created_at: m.created_at,
                updated_at: m.updated_at,
                version: m.version,
            })
            .collect(),
    }))
}
