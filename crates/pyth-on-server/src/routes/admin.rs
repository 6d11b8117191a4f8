//! `/api/v1/admin/...`: accounts and invitations, for administrators signed in with an access
//! JWT (an API key is refused, even an admin's).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use pyth_on_store::{Invitation, Role, UserSummary};
use pyth_on_types::{
    AdminCreateUser, AdminCreatedUser, AdminUser, AdminUserList, InvitationCreated, InvitationInfo,
    InvitationList, InvitationRequest, QuotaOverrides, SetRoleRequest, Usage, UserQuota, UserRole,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::accounts::{self, role_type};
use crate::admin::{self, Actor};
use crate::caller::Caller;
use crate::domain::{Email, Invalid, Password};
use crate::error::ApiError;
use crate::http::json::AppJson;
use crate::own_account;
use crate::quotas;
use crate::registration::MAX_INVITATION_TTL_HOURS;
use crate::sessions::EndReason;
use crate::state::AppState;

/// Most accounts in one page.
const MAX_PAGE: u32 = 500;

/// Query of `GET /api/v1/admin/users`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserPage {
    /// Accounts after this id (the previous page's `nextAfter`).
    after: Option<Uuid>,
    /// Page size, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

fn admin_user(u: UserSummary, usage: Option<Usage>) -> AdminUser {
    AdminUser {
        id: u.id,
        email: u.email,
        role: role_type(u.role),
        created_at: u.created_at,
        disabled_at: u.disabled_at,
        usage,
    }
}

fn role(role: UserRole) -> Role {
    match role {
        UserRole::User => Role::User,
        UserRole::Admin => Role::Admin,
    }
}

fn user_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound("user"))
}

/// List accounts in creation order, a page at a time, each with its use of every quota today.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "Admin", params(UserPage),
    security(("bearer" = [])),
    responses((status = 200, body = AdminUserList),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed: limit; invalid_request: an unknown or malformed parameter"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "admin_required")))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    page: Result<Query<UserPage>, axum::extract::rejection::QueryRejection>,
) -> Result<AppJson<AdminUserList>, ApiError> {
    caller.require_admin()?;
    let Query(page) =
        page.map_err(|e| ApiError::bad_request(crate::http::json::query_error(&e)))?;
    let limit = page.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Invalid::field("limit", "must be between 1 and 500").into());
    }
    let users = admin::list_users(state.store(), page.after, limit).await?;
    let full = users.len() == usize::try_from(limit).unwrap_or(usize::MAX);
    let next_after = full.then(|| users.last().map(|u| u.id)).flatten();
    let usage = users.iter().map(|u| crate::usage::of(&state, u.id));
    let usage = futures::future::try_join_all(usage).await?;
    let users = users
        .into_iter()
        .zip(usage)
        .map(|(user, usage)| admin_user(user, Some(usage)))
        .collect();
    Ok(AppJson(AdminUserList { users, next_after }))
}

/// Create an account (the way in when registration is `closed`). Without a password one is
/// generated and answered once.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "Admin", request_body = AdminCreateUser,
    security(("bearer" = [])),
    responses((status = 201, body = AdminCreatedUser),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed: email or password"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "admin_required"),
        (status = 409, body = pyth_on_types::ErrorBody, description = "email_taken")))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<AdminCreateUser>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let email = Email::parse(&body.email)?;
    let generated = body.password.is_none().then(admin::generated_password);
    let password = Password::parse(
        body.password
            .or_else(|| generated.clone())
            .unwrap_or_default(),
    )?;
    let new_role = role(body.role.unwrap_or_default());
    let user = accounts::new_user(&state, &email, password, new_role).await?;
    let actor = Actor::Admin(caller);
    let user = admin::create_user(state.store(), &actor, user).await?;
    let user = AdminUser {
        id: user.id,
        email: user.email,
        role: role_type(user.role),
        created_at: user.created_at,
        disabled_at: None,
        usage: None,
    };
    let created = AdminCreatedUser {
        user,
        password: generated,
    };
    Ok((StatusCode::CREATED, AppJson(created)))
}

/// Disable an account: its API keys, access tokens and refresh tokens are refused on every
/// node from their next request, it cannot sign in, and its sessions on this node end.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/disable", tag = "Admin",
    params(("id" = Uuid, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 204, description = "Disabled"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "admin_required"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found"),
        (status = 409, body = pyth_on_types::ErrorBody, description = "last_admin")))]
pub async fn disable_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let id = user_id(&id)?;
    admin::set_disabled(state.store(), &Actor::Admin(caller), id, true).await?;
    own_account::end_sessions_of(&state, id, EndReason::AccountDisabled).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Enable a disabled account again (its keys and sign-ins work again unless they expired).
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/enable", tag = "Admin",
    params(("id" = Uuid, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 204, description = "Enabled"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "admin_required"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found")))]
pub async fn enable_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let id = user_id(&id)?;
    admin::set_disabled(state.store(), &Actor::Admin(caller), id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make an account an administrator, or a plain user again.
#[utoipa::path(put, path = "/api/v1/admin/users/{id}/role", tag = "Admin", request_body = SetRoleRequest,
    params(("id" = Uuid, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 204, description = "Set"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "admin_required"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found"),
        (status = 409, body = pyth_on_types::ErrorBody, description = "last_admin")))]
pub async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    AppJson(body): AppJson<SetRoleRequest>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let id = user_id(&id)?;
    let actor = Actor::Admin(caller);
    admin::set_role(state.store(), &actor, id, role(body.role)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete an account and everything of it (as `DELETE /api/v1/me`); the admin's audit log
/// keeps an entry naming it.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}", tag = "Admin",
    params(("id" = Uuid, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 204, description = "Deleted"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "admin_required"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found"),
        (status = 409, body = pyth_on_types::ErrorBody, description = "last_admin")))]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let id = user_id(&id)?;
    admin::delete_user(state.store(), &Actor::Admin(caller), id).await?;
    // Gone from the database first: a refusal (the last admin) ends nothing.
    own_account::end_sessions_of(&state, id, EndReason::Deleted).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The quotas that apply to an account, and the overrides set for it.
#[utoipa::path(get, path = "/api/v1/admin/users/{id}/quota", tag = "Admin",
    params(("id" = Uuid, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 200, body = UserQuota),
        (status = 403, body = pyth_on_types::ErrorBody, description = "admin_required"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found")))]
pub async fn get_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<AppJson<UserQuota>, ApiError> {
    caller.require_admin()?;
    let id = user_id(&id)?;
    Ok(AppJson(quotas::user_quota(&state, id).await?))
}

/// Set an account's quota overrides: each field a limit (`0`: unlimited), absent or `null`
/// for the server's default; `{}` removes every override. Applies from the account's next
/// run, session or write, on every node.
#[utoipa::path(put, path = "/api/v1/admin/users/{id}/quota", tag = "Admin", request_body = QuotaOverrides,
    params(("id" = Uuid, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 200, body = UserQuota),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid_json: not a QuotaOverrides"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "admin_required"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found")))]
pub async fn set_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    AppJson(body): AppJson<QuotaOverrides>,
) -> Result<AppJson<UserQuota>, ApiError> {
    caller.require_admin()?;
    let id = user_id(&id)?;
    admin::set_quota(state.store(), &Actor::Admin(caller), id, &body).await?;
    Ok(AppJson(quotas::user_quota(&state, id).await?))
}

fn invitation_info(i: Invitation) -> InvitationInfo {
    InvitationInfo {
        id: i.id,
        note: i.note,
        created_by: i.created_by,
        created_at: i.created_at,
        expires_at: i.expires_at,
        used_at: i.used_at,
        used_by: i.used_by,
    }
}

/// Create a single-use invitation for `invite` registration; its code is answered once.
#[utoipa::path(post, path = "/api/v1/admin/invitations", tag = "Admin", request_body = InvitationRequest,
    security(("bearer" = [])),
    responses((status = 201, body = InvitationCreated),
        (status = 400, body = pyth_on_types::ErrorBody, description = "validation_failed: note or expiresInHours"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "admin_required")))]
pub async fn create_invitation(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<InvitationRequest>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let note = body.note.unwrap_or_default();
    if note.chars().count() > 200 || note.chars().any(char::is_control) {
        let problem = "must be at most 200 characters, without control characters";
        return Err(Invalid::field("note", problem).into());
    }
    let default = state.settings().registration.invitation_ttl_hours;
    let hours = body.expires_in_hours.unwrap_or(default);
    if !(1..=MAX_INVITATION_TTL_HOURS).contains(&hours) {
        return Err(Invalid::field("expiresInHours", "must be between 1 and 720").into());
    }
    let store = state.store();
    let (invitation, code) = admin::create_invitation(store, &caller, note, hours).await?;
    let created = InvitationCreated {
        invitation: invitation_info(invitation),
        code: code.expose().to_string(),
    };
    Ok((StatusCode::CREATED, AppJson(created)))
}

/// Every invitation, newest first (used, unused and expired).
#[utoipa::path(get, path = "/api/v1/admin/invitations", tag = "Admin", security(("bearer" = [])),
    responses((status = 200, body = InvitationList),
        (status = 403, body = pyth_on_types::ErrorBody, description = "admin_required")))]
pub async fn list_invitations(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<AppJson<InvitationList>, ApiError> {
    caller.require_admin()?;
    let all = admin::list_invitations(state.store()).await?;
    let invitations = all.into_iter().map(invitation_info).collect();
    Ok(AppJson(InvitationList { invitations }))
}

/// Delete an invitation (an unused one can no longer be used).
#[utoipa::path(delete, path = "/api/v1/admin/invitations/{id}", tag = "Admin",
    params(("id" = Uuid, Path, description = "invitation id")), security(("bearer" = [])),
    responses((status = 204, description = "Deleted"),
        (status = 403, body = pyth_on_types::ErrorBody, description = "admin_required"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found")))]
pub async fn delete_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("invitation"))?;
    admin::delete_invitation(state.store(), &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
