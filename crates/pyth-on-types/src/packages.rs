//! Persistent package bodies: a user's package lists per language and the state of the
//! environments built from them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// One persistent package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageInfo {
    /// Normalized name: PEP 503 for Python (`typing-extensions`), as given (lowercase) for npm.
    pub name: String,
    /// Canonical spec: the name plus any extras and version constraint (`requests>=2`,
    /// `lodash@^4.17.0`).
    pub spec: String,
    /// `python` or `javascript`.
    pub language: String,
    /// When this spec was added.
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}

/// State of the environment built from one language's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageEnvStatus {
    /// `none` (empty list or never built), `building`, `ready` or `failed`.
    pub status: String,
    /// The installer's message when `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The environment of each language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageEnvironments {
    /// The Python list's environment.
    pub python: PackageEnvStatus,
    /// The JavaScript list's environment.
    pub javascript: PackageEnvStatus,
}

/// `GET /api/v1/packages`, and the answer of `PUT` (then `packages` holds that language only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageList {
    /// Ordered by language, then name.
    pub packages: Vec<PackageInfo>,
    /// Per language.
    pub environments: PackageEnvironments,
}

/// Body of `PUT /api/v1/packages`: replaces one language's whole list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetPackagesRequest {
    /// Specs such as `requests`, `numpy>=2` or `lodash@4.17.21`, no two naming the same
    /// package; at most the server's `--max-packages` (default 50).
    #[schema(max_items = 50)]
    pub packages: Vec<String>,
    /// `python` (default) or `javascript`, or an alias (`py`, `js`, `node`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::LanguageName>)]
    pub language: Option<String>,
}

/// Body of `POST /api/v1/packages`: adds one spec, or replaces the one with the same name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddPackageRequest {
    /// One spec.
    pub package: String,
    /// `python` (default) or `javascript`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::LanguageName>)]
    pub language: Option<String>,
}

/// Query of `DELETE /api/v1/packages/{name}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PackageLanguageQuery {
    /// `python` (default) or `javascript`.
    #[serde(default)]
    #[param(value_type = Option<crate::LanguageName>)]
    pub language: Option<String>,
}
