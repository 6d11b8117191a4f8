//! The caller's own account: settings, password, sign-ins, deletion. Everything but reading
//! needs an access JWT: a leaked API key must not take over or delete the account.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use pyth_on_store::SecretsDefault;
use pyth_on_types::{
    AccountSettings, DeleteAccountRequest, PasswordChangeRequest, SignInInfo, SignInList, UserInfo,
};
use uuid::Uuid;

use crate::accounts::user_info;
use crate::caller::Caller;
use crate::domain::{Invalid, Password};
use crate::error::ApiError;
use crate::http::json::AppJson;
use crate::own_account;
use crate::state::AppState;

/// Change the account's settings: which secrets a request naming none receives
/// (`secretsDefault`: `all` or `none`).
#[utoipa::path(put, path = "/api/v1/me/settings", tag = "Account", request_body = AccountSettings,
    security(("bearer" = [])),
    responses((status = 200, body = UserInfo),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid_json: not an AccountSettings"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "jwt_required")))]
pub async fn put_settings(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<AccountSettings>,
) -> Result<AppJson<UserInfo>, ApiError> {
    caller.require_jwt()?;
    let value = match body.secrets_default {
        pyth_on_types::SecretsDefault::All => SecretsDefault::All,
        pyth_on_types::SecretsDefault::None => SecretsDefault::None,
    };
    let user = own_account::set_secrets_default(&state, &caller, value).await?;
    Ok(AppJson(user_info(&user)))
}

/// Change the password. Every other sign-in ends (its refresh token and the access tokens it
/// issued stop working); the caller's stays. API keys are not affected.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "Account", request_body = PasswordChangeRequest,
    security(("bearer" = [])),
    responses((status = 204, description = "Changed"),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed: the new password (12 characters to 1024 bytes)"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "wrong_password: the current password is wrong; jwt_required")))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<PasswordChangeRequest>,
) -> Result<StatusCode, ApiError> {
    caller.require_jwt()?;
    let new = Password::parse(body.new_password)
        .map_err(|_| Invalid::field("newPassword", "must be 12 characters to 1024 bytes"))?;
    own_account::change_password(&state, &caller, body.current_password, new).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The account's sign-ins (browsers and clients holding a refresh token), newest first.
#[utoipa::path(get, path = "/api/v1/me/sign-ins", tag = "Account", security(("bearer" = [])),
    responses((status = 200, body = SignInList),
        (status = 403, body = pyth_on_types::ErrorBody, description = "jwt_required")))]
pub async fn list_sign_ins(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<AppJson<SignInList>, ApiError> {
    caller.require_jwt()?;
    let sign_ins = own_account::sign_ins(&state, &caller).await?;
    let sign_ins = sign_ins
        .into_iter()
        .map(|s| SignInInfo {
            current: caller.sign_in == Some(s.id),
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    Ok(AppJson(SignInList { sign_ins }))
}

/// End a sign-in: its refresh token and every access token it issued stop working at once.
#[utoipa::path(delete, path = "/api/v1/me/sign-ins/{id}", tag = "Account", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "sign-in id")),
    responses((status = 204, description = "Ended"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "jwt_required"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found: no live sign-in of yours has this id")))]
pub async fn revoke_sign_in(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_jwt()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("sign-in"))?;
    own_account::revoke_sign_in(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete the account and everything of it: keys, sign-ins, secrets, packages, encrypted
/// code, egress allow-list, sessions, and its audit log (docs/API.md says what is kept
/// elsewhere). Needs the password again.
#[utoipa::path(delete, path = "/api/v1/me", tag = "Account", request_body = DeleteAccountRequest,
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "wrong_password; jwt_required"),
        (status = 409, body = pyth_on_types::ErrorBody, description = "last_admin: the only enabled administrator cannot delete itself")))]
pub async fn delete_me(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<DeleteAccountRequest>,
) -> Result<StatusCode, ApiError> {
    caller.require_jwt()?;
    own_account::delete_account(&state, &caller, body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}
