//! Persistent packages: list, replace a language's list, add one, remove one (the service is
//! `packages::lists`). Setting or adding builds the new set before answering: a set that
//! cannot be built is 422 `package_install_failed` naming the packages, and the stored list is
//! left as it was.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use pyth_on_store::{PackageRow, PutOutcome};
use pyth_on_types::{
    AddPackageRequest, PackageInfo, PackageLanguageQuery, PackageList, SetPackagesRequest,
};

use crate::caller::Caller;
use crate::error::ApiError;
use crate::http::json::AppJson;
use crate::packages::{self, lists, PackageManager, PackageSpec};
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
    let (rows, environments) = lists::list(&state, &manager, &user).await?;
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
        (status = 429, body = pyth_on_types::ErrorBody, description = "too_many_builds: 2 builds you asked for are already waiting (Retry-After); rate_limited; quota_exceeded: your storage quota is used up (`details.quota` `storageBytes`; without `Retry-After`: delete something first)"),
        (status = 503, body = pyth_on_types::ErrorBody, description = "package_builds_busy (Retry-After), packages_unavailable")))]
pub async fn set_packages(
    State(state): State<AppState>,
    Packages(manager): Packages,
    user: Caller,
    AppJson(body): AppJson<SetPackagesRequest>,
) -> Result<AppJson<PackageList>, ApiError> {
    let language = crate::domain::parse_language(body.language.as_deref())?;
    let specs = PackageSpec::parse_list(language, &body.packages, manager.config().max_packages)?;
    lists::set(&state, &manager, &user, language, &specs).await?;
    let (all, environments) = lists::list(&state, &manager, &user).await?;
    Ok(AppJson(PackageList {
        packages: all
            .iter()
            .filter(|r| r.language == language.as_str())
            .map(info_of)
            .collect(),
        environments,
    }))
}

/// Adds one package (or replaces the spec of the one with the same name) once the new set's
/// environment is built.
#[utoipa::path(post, path = "/api/v1/packages", tag = "Packages", request_body = AddPackageRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = PackageInfo, description = "added; the environment with it is built"), (status = 200, body = PackageInfo, description = "replaced the spec of the same name"),
        (status = 400, body = pyth_on_types::ErrorBody, description = "invalid_package (names the spec), too_many_packages, unsupported_language"),
        (status = 422, body = pyth_on_types::ErrorBody, description = "package_install_failed: details.packages names the packages, details.log the installer's relevant lines; the stored list is unchanged"),
        (status = 429, body = pyth_on_types::ErrorBody, description = "too_many_builds: 2 builds you asked for are already waiting (Retry-After); rate_limited; quota_exceeded: your storage quota is used up (`details.quota` `storageBytes`; without `Retry-After`: delete something first)"),
        (status = 503, body = pyth_on_types::ErrorBody, description = "package_builds_busy (Retry-After), packages_unavailable")))]
pub async fn add_package(
    State(state): State<AppState>,
    Packages(manager): Packages,
    user: Caller,
    AppJson(body): AppJson<AddPackageRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let language = crate::domain::parse_language(body.language.as_deref())?;
    let spec = PackageSpec::parse(language, &body.package)?;
    let (outcome, row) = lists::add(&state, &manager, &user, language, &spec).await?;
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
    if lists::remove(&state, &manager, &user, language, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("package"))
    }
}
