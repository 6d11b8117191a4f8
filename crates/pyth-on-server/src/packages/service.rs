//! What the routes and the execution path ask of packages: a user's lists with their
//! environments' state, the mount for a run, and the background build after a change.

use pyth_on_store::{
    PackageRow, Store, PACKAGE_ENV_BUILDING, PACKAGE_ENV_FAILED, PACKAGE_ENV_READY,
};
use pyth_on_types::{PackageEnvStatus, PackageEnvironments};
use uuid::Uuid;

use super::{EnvMount, PackageError, PackageManager, PackageSpec};
use crate::domain::Language;
use crate::state::AppState;

/// The user's stored specs for `language`, parsed.
pub async fn stored_specs(
    store: &dyn Store,
    user_id: Uuid,
    language: Language,
) -> Result<Vec<PackageSpec>, PackageError> {
    let rows = store.list_packages(user_id).await?;
    specs_of(&rows, language)
}

fn specs_of(rows: &[PackageRow], language: Language) -> Result<Vec<PackageSpec>, PackageError> {
    rows.iter()
        .filter(|r| r.language == language.as_str())
        .map(|r| PackageSpec::from_stored(language, &r.spec))
        .collect()
}

/// The state of each language's environment for these rows.
pub async fn environment_status(
    manager: &PackageManager,
    store: &dyn Store,
    rows: &[PackageRow],
) -> Result<PackageEnvironments, PackageError> {
    let mut out = Vec::new();
    for language in [Language::Python, Language::Javascript] {
        let specs = specs_of(rows, language)?;
        let status = if specs.is_empty() {
            status("none", None)
        } else {
            match manager.env_key(language, &specs).await {
                Err(err @ PackageError::Unavailable { .. }) => {
                    status("failed", Some(err.to_string()))
                }
                Err(err) => return Err(err),
                Ok(key) => match store.get_package_env(&key).await? {
                    None => status("none", None),
                    Some(row) => match row.status.as_str() {
                        PACKAGE_ENV_READY => status("ready", None),
                        PACKAGE_ENV_BUILDING => status("building", None),
                        PACKAGE_ENV_FAILED => status("failed", row.error),
                        _ => status("none", None),
                    },
                },
            }
        };
        out.push(status);
    }
    let javascript = out.pop().expect("two languages");
    let python = out.pop().expect("two languages");
    Ok(PackageEnvironments { python, javascript })
}

fn status(status: &str, error: Option<String>) -> PackageEnvStatus {
    PackageEnvStatus {
        status: status.to_string(),
        error,
    }
}

/// The environment for a run: the user's persistent list for `language` with the run's own
/// `extra_specs` (which win over a persistent spec of the same name and are not stored).
/// Waits for a build in progress; 422 `package_install_failed` when the set failed.
/// `stored` is the user's list as [`stored_specs`] read it.
pub async fn resolve_with_stored(
    state: &AppState,
    manager: &PackageManager,
    user_id: Uuid,
    language: Language,
    stored: Vec<PackageSpec>,
    extra_specs: &[String],
) -> Result<Option<EnvMount>, PackageError> {
    let max = manager.config().max_packages;
    let extra = PackageSpec::parse_list(language, extra_specs, max)?;
    let mut specs = stored;
    specs.retain(|s| !extra.iter().any(|e| e.name() == s.name()));
    specs.extend(extra);
    manager
        .ensure_for(user_id, state.store(), language, &specs)
        .await
}

/// Starts building the user's new list in the background; a failure stays in the env row.
pub fn build_in_background(
    state: &AppState,
    manager: &PackageManager,
    requester: Uuid,
    language: Language,
    specs: Vec<PackageSpec>,
) {
    if specs.is_empty() {
        return;
    }
    let (state, manager) = (state.clone(), manager.clone());
    tokio::spawn(async move {
        if let Err(err) = manager
            .ensure_for(requester, state.store(), language, &specs)
            .await
        {
            tracing::info!(error = %err, language = language.as_str(), "background package build did not succeed");
        }
    });
}
