//! API-key management (needs an access JWT, not an API key).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use pyth_on_crypto::ApiKey;
use pyth_on_store::Constraint;
use pyth_on_store::{NewApiKey, StoreError};
use pyth_on_types::{CreateKeyRequest, CreatedKey, KeyInfo, KeyList};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::error::ApiError;
use crate::http::json::AppJson;
use crate::state::AppState;

/// Keys a user may hold at once (the store counts and inserts atomically).
const MAX_KEYS_PER_USER: u32 = 50;

/// List live API keys (never their values).
#[utoipa::path(get, path = "/api/v1/keys", tag = "Keys", security(("bearer" = [])),
    responses((status = 200, body = KeyList),
        (status = 403, body = pyth_on_types::ErrorBody, description = "jwt_required: an API key cannot manage keys")))]
pub async fn list_keys(
    State(state): State<AppState>,
    user: Caller,
) -> Result<AppJson<KeyList>, ApiError> {
    user.require_jwt()?;
    let keys = state.store().list_api_keys(user.user_id).await?;
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
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1 to 64 printable characters",
        ));
    }
    let key = ApiKey::generate();
    let now = OffsetDateTime::now_utc();
    let row = NewApiKey {
        id: Uuid::now_v7(),
        user_id: user.user_id,
        name: name.to_string(),
        prefix: key.display_prefix(),
        key_hash: key.hash().to_vec(),
        created_at: now,
    };
    let event = audit::by(
        &user,
        Action::KeyCreate,
        Some(row.id.to_string()),
        Outcome::Success,
        json!({ "name": row.name }),
    );
    match state
        .store()
        .create_api_key(&row, MAX_KEYS_PER_USER, Some(&event))
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict {
            constraint: Constraint::ApiKeyQuota,
        }) => {
            return Err(ApiError::Conflict {
                code: "too_many_keys",
                message: format!(
                    "an account holds at most {MAX_KEYS_PER_USER} API keys; revoke one first"
                ),
            });
        }
        Err(err) => return Err(err.into()),
    }
    Ok((
        StatusCode::CREATED,
        AppJson(CreatedKey {
            id: row.id,
            name: row.name,
            api_key: key.expose().to_string(),
            created_at: pyth_on_store::truncate_to_millis(now),
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
    let event = audit::by(
        &user,
        Action::KeyRevoke,
        Some(id.to_string()),
        Outcome::Success,
        json!({}),
    );
    let now = OffsetDateTime::now_utc();
    if state
        .store()
        .revoke_api_key(user.user_id, id, now, &event)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("API key"))
    }
}
