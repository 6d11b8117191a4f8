//! Secrets: put, delete, list. Values go in and never come out.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use pyth_on_store::Constraint;
use pyth_on_store::{PutOutcome, SealedSecretRow, StoreError};
use pyth_on_types::{SecretInput, SecretList, SecretMetadata};
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::domain::VarName;
use crate::error::ApiError;
use crate::http::json::AppJson;
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
    let value = zeroize::Zeroizing::new(body.value);
    if value.is_empty() {
        return Err(ApiError::invalid_field("value", "must not be empty"));
    }
    if value.len() as u64 > state.settings().max_secret_bytes {
        return Err(ApiError::TooLarge(format!(
            "a secret value is at most {} bytes",
            state.settings().max_secret_bytes
        )));
    }
    if value.contains('\0') {
        return Err(ApiError::invalid_field(
            "value",
            "must not contain NUL characters",
        ));
    }
    // Optimistic concurrency: retry once if a concurrent put bumped the version.
    for _ in 0..3 {
        let current = state
            .store()
            .get_secret(user.user_id, name.as_str())
            .await?;
        let expected = current.as_ref().map(|c| c.version);
        let version = expected.map_or(1, |v| v + 1);
        let sealed = pyth_on_crypto::seal_secret(
            &state.keyring_for_sealing(),
            user.user_id,
            name.as_str(),
            version,
            value.as_bytes(),
        )
        .map_err(|e| ApiError::Internal(e.into()))?;
        // Milliseconds: what both databases keep, so the answer equals what a later read sees.
        let now = OffsetDateTime::now_utc();
        let now = now
            .replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
            .unwrap_or(now);
        let row = SealedSecretRow {
            user_id: user.user_id,
            name: name.as_str().to_string(),
            version,
            key_version: sealed.key_version,
            wrapped_key: sealed.wrapped_key,
            nonce: sealed.nonce,
            ciphertext: sealed.ciphertext,
            created_at: current.as_ref().map_or(now, |c| c.created_at),
            updated_at: now,
        };
        let event = audit::by(
            &user,
            Action::SecretPut,
            Some(row.name.clone()),
            Outcome::Success,
            json!({ "version": version }),
        );
        match state
            .store()
            .put_secret(
                &row,
                expected,
                state.settings().max_secrets_per_user,
                &event,
            )
            .await
        {
            Ok(outcome) => {
                let status = match outcome {
                    PutOutcome::Created => StatusCode::CREATED,
                    PutOutcome::Replaced => StatusCode::OK,
                };
                // What this request wrote (the version check made it exactly this row), not
                // a read-back that could see a later writer's version.
                return Ok((status, AppJson(metadata_of(&row))));
            }
            Err(StoreError::Conflict {
                constraint: Constraint::SecretQuota,
            }) => {
                return Err(ApiError::bad_request_code(
                    "too_many_secrets",
                    format!(
                        "an account holds at most {} secrets",
                        state.settings().max_secrets_per_user
                    ),
                ));
            }
            Err(StoreError::Conflict {
                constraint: Constraint::SecretVersion,
            }) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Conflict {
        code: "concurrent_update",
        message: "the secret changed while it was being written; retry".into(),
    })
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
    let event = audit::by(
        &user,
        Action::SecretDelete,
        Some(name.as_str().to_string()),
        Outcome::Success,
        json!({}),
    );
    if state
        .store()
        .delete_secret(user.user_id, name.as_str(), &event)
        .await?
    {
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
    let rows = state.store().list_secrets(user.user_id).await?;
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
