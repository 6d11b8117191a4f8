//! The package environment of a run or a session: the user's stored list for the language
//! with the request's own `packages`, built (or waited for) and mounted. A run reads the
//! stored list alongside its quota reservation ([`stored`]) and builds nothing until that
//! holds ([`resolve`]).

use pyth_on_launcher::Language;

use super::RunError;
use crate::caller::Caller;
use crate::domain::Invalid;
use crate::packages::{EnvMount, PackageSpec};
use crate::state::AppState;

/// The package environment of a run or a session, if it has packages (stored or `packages`).
pub(crate) async fn package_env(
    state: &AppState,
    user: &Caller,
    language: Language,
    packages: &[String],
) -> Result<Option<EnvMount>, RunError> {
    let stored = stored(state, user, language).await?;
    resolve(state, user, language, packages, stored).await
}

/// The user's stored specs for `language`: `None` when this server has no packages.
pub(super) async fn stored(
    state: &AppState,
    user: &Caller,
    language: Language,
) -> Result<Option<Vec<PackageSpec>>, RunError> {
    if state.packages().is_none() {
        return Ok(None);
    }
    let specs = crate::packages::service::stored_specs(state.store(), user.user_id, language);
    Ok(Some(specs.await?))
}

/// The environment for `packages` with the user's stored specs already read ([`stored`]:
/// `None` when this server has no packages).
pub(super) async fn resolve(
    state: &AppState,
    user: &Caller,
    language: Language,
    packages: &[String],
    stored: Option<Vec<PackageSpec>>,
) -> Result<Option<EnvMount>, RunError> {
    match (state.packages(), stored) {
        (Some(manager), Some(stored)) => {
            let resolved = crate::packages::service::resolve_with_stored(
                state,
                manager,
                user.user_id,
                language,
                stored,
                packages,
            );
            Ok(resolved.await?)
        }
        (_, _) if packages.is_empty() => Ok(None),
        (_, _) => Err(Invalid::code(
            "packages_unavailable",
            "packages are not enabled on this server",
        )
        .into()),
    }
}
