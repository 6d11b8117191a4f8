//! API-key management (needs an access JWT, not an API key).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use pyth_on_types::{CreateKeyRequest, CreatedKey, KeyInfo, KeyList};
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::http::json::AppJson;
use crate::keys::{self, KeyName};
use crate::state::AppState;

/// List live API keys (never their values).
#[utoipa::path(get, path = "/api/v1/keys", tag = "Keys", security(("bearer" = [])),
    responses((status = 200, body = KeyList),
        (status = 403, body = pyth_on_types::ErrorBody, description = "jwt_required: an API key cannot manage keys")))]
pub async fn list_keys(
    State(state): State<AppState>,
    user: Caller,
) -> Result<AppJson<KeyList>, ApiError> {
    user.require_jwt()?;
    let keys = keys::list(&state, &user).await?;
    Ok(AppJson(KeyList {
        keys: keys
            .into_iter()
            .map(|k| KeyInfo {
                id: k.id,
                name: k.name,
                prefix: k.prefix,
                created_at: k.created_at,
                last_used_at: k.last_used_at,
            })
            .collect(),
    }))
}

/// Create another API key; its value is shown only in this answer.
#[utoipa::path(post, path = "/api/v1/keys", tag = "Keys", request_body = CreateKeyRequest, security(("bearer" = [])),
    responses((status = 201, body = CreatedKey),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed: the name"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "jwt_required: an API key cannot manage keys"),
        (status = 409, body = pyth_on_types::ErrorBody, description = "too_many_keys: an account holds at most 50 keys")))]
pub async fn create_key(
    State(state): State<AppState>,
    user: Caller,
    AppJson(body): AppJson<CreateKeyRequest>,
) -> Result<impl IntoResponse, ApiError> {
    user.require_jwt()?;
    let name = KeyName::parse(&body.name)?;
    let created = keys::create(&state, &user, name).await?;
    Ok((
        StatusCode::CREATED,
        AppJson(CreatedKey {
            id: created.row.id,
            name: created.row.name,
            api_key: created.key.expose().to_string(),
            created_at: pyth_on_store::truncate_to_millis(created.row.created_at),
        }),
    ))
}

/// Revoke an API key; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "Keys", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "key id; anything else is not found")),
    responses((status = 204),
        (status = 403, body = pyth_on_types::ErrorBody, description = "jwt_required: an API key cannot manage keys"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found")))]
pub async fn revoke_key(
    State(state): State<AppState>,
    user: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    user.require_jwt()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("API key"))?;
    keys::revoke(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
