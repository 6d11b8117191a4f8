//! Persistent packages: list, replace a language's list, add one, remove one. Each change is
//! audited (`package.set`, `package.add`, `package.remove`). Setting or adding **builds the
//! new set before answering** (in a build sandbox, from the node's build queue): a set that
//! cannot be built is refused with 422 `package_install_failed` naming the packages, and the
//! stored list is left as it was (the refusal is audited as a failure).

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use pyth_on_store::Constraint;
use pyth_on_store::{PackageRow, PutOutcome, StoreError};
use pyth_on_types::{
    AddPackageRequest, PackageInfo, PackageLanguageQuery, PackageList, SetPackagesRequest,
};
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::domain::Language;
use crate::error::ApiError;
use crate::http::json::AppJson;
use crate::packages::{self, service, PackageManager, PackageSpec};
use crate::state::AppState;

/// The [`PackageManager`] of this server, from the request extensions.
#[derive(Debug, Clone)]
pub struct Packages(pub PackageManager);

impl FromRequestParts<AppState> for Packages {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<PackageManager>()
            .cloned()
            .map(Self)
            .ok_or_else(|| ApiError::Unavailable {
                code: "packages_unavailable",
                message: "packages are not enabled on this server".into(),
                retry_after_secs: None,
            })
    }
}

fn info_of(row: &PackageRow) -> PackageInfo {
    PackageInfo {
        name: row.name.clone(),
        spec: row.spec.clone(),
        language: row.language.clone(),
        added_at: row.added_at,
    }
}

/// The caller's packages and the state of each language's environment.
#[utoipa::path(get, path = "/api/v1/packages", tag = "Packages",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = PackageList),
        (status = 503, body = pyth_on_types::ErrorBody, description = "packages_unavailable: packages are off on this server")))]
pub async fn list_packages(
    State(state): State<AppState>,
    Packages(manager): Packages,
    user: Caller,
) -> Result<AppJson<PackageList>, ApiError> {
    let rows = state.store().list_packages(user.user_id).await?;
    let environments = packages::environment_status(&manager, state.store(), &rows).await?;
    Ok(AppJson(PackageList {
        packages: rows.iter().map(info_of).collect(),
        environments,
    }))
}

/// Replaces one language's whole list once its environment is built.
#[utoipa::path(put, path = "/api/v1/packages", tag = "Packages", request_body = SetPackagesRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = PackageList, description = "the new list of that language, its environment built"),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid_package (names the spec), too_many_packages, duplicate_package, unsupported_language"),
        (status = 422, body = pyth_on_types::ErrorBody, description = "package_install_failed: details.packages names the packages, details.log the installer's relevant lines; the stored list is unchanged"),
        (status = 429, body = pyth_on_types::ErrorBody, description = "too_many_builds: 2 builds you asked for are already waiting (Retry-After); rate_limited"),
        (status = 503, body = pyth_on_types::ErrorBody, description = "package_builds_busy (Retry-After), packages_unavailable")))]
pub async fn set_packages(
    State(state): State<AppState>,
    Packages(manager): Packages,
    user: Caller,
    AppJson(body): AppJson<SetPackagesRequest>,
) -> Result<AppJson<PackageList>, ApiError> {
    let language = crate::domain::parse_language(body.language.as_deref())?;
    let specs = PackageSpec::parse_list(language, &body.packages, manager.config().max_packages)?;
    let spec_list: Vec<&str> = specs.iter().map(PackageSpec::spec).collect();
    let details = json!({ "language": language.as_str(), "packages": spec_list });
    let resource = Some(language.as_str().to_string());
    install_or_refuse(
        &state,
        &manager,
        &user,
        (Action::PackageSet, resource.clone()),
        &details,
        language,
        &specs,
    )
    .await?;
    let rows = rows_of(user.user_id, language, &specs);
    let event = audit::by(
        &user,
        Action::PackageSet,
        resource,
        Outcome::Success,
        details,
    );
    let max = manager.config().max_packages;
    match state
        .store()
        .set_packages(
            user.user_id,
            language.as_str(),
            &rows,
            u32::try_from(max).unwrap_or(u32::MAX),
            &event,
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict {
            constraint: Constraint::PackageQuota,
        }) => {
            return Err(packages::PackageError::TooMany { max }.into());
        }
        Err(err) => return Err(err.into()),
    }
    let all = state.store().list_packages(user.user_id).await?;
    let environments = packages::environment_status(&manager, state.store(), &all).await?;
    Ok(AppJson(PackageList {
        packages: all
            .iter()
            .filter(|r| r.language == language.as_str())
            .map(info_of)
            .collect(),
        environments,
    }))
}

/// The stored rows of a language's new list.
fn rows_of(user_id: uuid::Uuid, language: Language, specs: &[PackageSpec]) -> Vec<PackageRow> {
    let now = OffsetDateTime::now_utc();
    specs
        .iter()
        .map(|s| PackageRow {
            user_id,
            language: language.as_str().to_string(),
            name: s.name().to_string(),
            spec: s.spec().to_string(),
            added_at: now,
        })
        .collect()
}

/// Builds `specs` (waiting for the build); a failure is audited as `action` with outcome
/// `failure` and answered, and nothing is stored.
async fn install_or_refuse(
    state: &AppState,
    manager: &PackageManager,
    user: &Caller,
    (action, resource): (Action, Option<String>),
    details: &serde_json::Value,
    language: Language,
    specs: &[PackageSpec],
) -> Result<(), ApiError> {
    match manager
        .ensure_for(user.user_id, state.store(), language, specs)
        .await
    {
        Ok(_) => Ok(()),
        Err(err @ packages::PackageError::InstallFailed { .. }) => {
            let mut details = details.clone();
            if let packages::PackageError::InstallFailed { packages, .. } = &err {
                details["reason"] = json!("package_install_failed");
                details["failedPackages"] = json!(packages);
            }
            let event = audit::by(user, action, resource, Outcome::Failure, details);
            state.store().append_audit(&event).await?;
            Err(err.into())
        }
        Err(err) => Err(err.into()),
    }
}

/// Adds one package (or replaces the spec of the one with the same name) once the new set's
/// environment is built.
#[utoipa::path(post, path = "/api/v1/packages", tag = "Packages", request_body = AddPackageRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = PackageInfo, description = "added; the environment with it is built"), (status = 200, body = PackageInfo, description = "replaced the spec of the same name"),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid_package (names the spec), too_many_packages, unsupported_language"),
        (status = 422, body = pyth_on_types::ErrorBody, description = "package_install_failed: details.packages names the packages, details.log the installer's relevant lines; the stored list is unchanged"),
        (status = 429, body = pyth_on_types::ErrorBody, description = "too_many_builds: 2 builds you asked for are already waiting (Retry-After); rate_limited"),
        (status = 503, body = pyth_on_types::ErrorBody, description = "package_builds_busy (Retry-After), packages_unavailable")))]
pub async fn add_package(
    State(state): State<AppState>,
    Packages(manager): Packages,
    user: Caller,
    AppJson(body): AppJson<AddPackageRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let language = crate::domain::parse_language(body.language.as_deref())?;
    let spec = PackageSpec::parse(language, &body.package)?;
    let max = manager.config().max_packages;
    let mut set = service::stored_specs(state.store(), user.user_id, language).await?;
    set.retain(|s| s.name() != spec.name());
    if set.len() >= max {
        return Err(packages::PackageError::TooMany { max }.into());
    }
    set.push(spec.clone());
    let details = json!({ "language": language.as_str(), "spec": spec.spec() });
    let resource = Some(spec.name().to_string());
    install_or_refuse(
        &state,
        &manager,
        &user,
        (Action::PackageAdd, resource.clone()),
        &details,
        language,
        &set,
    )
    .await?;
    let row = PackageRow {
        user_id: user.user_id,
        language: language.as_str().to_string(),
        name: spec.name().to_string(),
        spec: spec.spec().to_string(),
        added_at: OffsetDateTime::now_utc(),
    };
    let event = audit::by(
        &user,
        Action::PackageAdd,
        resource,
        Outcome::Success,
        details,
    );
    let outcome = match state
        .store()
        .add_package(&row, u32::try_from(max).unwrap_or(u32::MAX), &event)
        .await
    {
        Ok(outcome) => outcome,
        Err(StoreError::Conflict {
            constraint: Constraint::PackageQuota,
        }) => {
            return Err(packages::PackageError::TooMany { max }.into());
        }
        Err(err) => return Err(err.into()),
    };
    let status = match outcome {
        PutOutcome::Created => StatusCode::CREATED,
        PutOutcome::Replaced => StatusCode::OK,
    };
    Ok((status, AppJson(info_of(&row))))
}

/// Removes one package by name.
#[utoipa::path(delete, path = "/api/v1/packages/{name}", tag = "Packages",
    params(("name" = String, Path, description = "the package name (normalized like specs)"), PackageLanguageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 400, body = pyth_on_types::ErrorBody, description = "unsupported_language"),
        (status = 404, body = pyth_on_types::ErrorBody, description = "not_found"),
        (status = 503, body = pyth_on_types::ErrorBody, description = "packages_unavailable")))]
pub async fn delete_package(
    State(state): State<AppState>,
    Packages(manager): Packages,
    user: Caller,
    Path(name): Path<String>,
    Query(query): Query<PackageLanguageQuery>,
) -> Result<StatusCode, ApiError> {
    let language = crate::domain::parse_language(query.language.as_deref())?;
    let Some(name) = packages::spec::normalize_name(language, &name) else {
        return Err(ApiError::NotFound("package"));
    };
    let event = audit::by(
        &user,
        Action::PackageRemove,
        Some(name.clone()),
        Outcome::Success,
        json!({ "language": language.as_str() }),
    );
    if !state
        .store()
        .remove_package(user.user_id, language.as_str(), &name, &event)
        .await?
    {
        return Err(ApiError::NotFound("package"));
    }
    let specs = service::stored_specs(state.store(), user.user_id, language).await?;
    service::build_in_background(&state, &manager, user.user_id, language, specs);
    Ok(StatusCode::NO_CONTENT)
}
