//! A user's persistent package lists: read with the state of each environment, a language's
//! whole list replaced, one package added or replaced, one removed. Each change is audited
//! (`package.set`, `package.add`, `package.remove`). Setting or adding **builds the new set
//! before it is stored** (in a build sandbox, from the node's build queue): a set that cannot
//! be built is refused with the installer's reason, audited as a failure, and the stored list
//! is left as it was. Removing stores first and rebuilds in the background.

use pyth_on_store::{Constraint, PackageRow, PutOutcome, StoreError};
use pyth_on_types::PackageEnvironments;
use serde_json::json;
use time::OffsetDateTime;

use super::service::{build_in_background, environment_status, stored_specs};
use super::{PackageError, PackageManager, PackageSpec};
use crate::audit::{self, Action, Outcome};
use crate::caller::Caller;
use crate::domain::Language;
use crate::state::AppState;

/// The owner's packages (all languages) and the state of each language's environment.
pub async fn list(
    state: &AppState,
    manager: &PackageManager,
    user: &Caller,
) -> Result<(Vec<PackageRow>, PackageEnvironments), PackageError> {
    let rows = state.store().list_packages(user.user_id).await?;
    let environments = environment_status(manager, state.store(), &rows).await?;
    Ok((rows, environments))
}

/// Replaces `language`'s list with `specs` once their environment is built.
pub async fn set(
    state: &AppState,
    manager: &PackageManager,
    user: &Caller,
    language: Language,
    specs: &[PackageSpec],
) -> Result<(), PackageError> {
    super::storage::check_room(state, user.user_id).await?;
    let spec_list: Vec<&str> = specs.iter().map(PackageSpec::spec).collect();
    let details = json!({ "language": language.as_str(), "packages": spec_list });
    let subject = (Action::PackageSet, Some(language.as_str().to_string()));
    install_or_refuse(state, manager, user, &subject, &details, (language, specs)).await?;
    let rows = rows_of(user, language, specs);
    let event = audit::by(user, subject.0, subject.1, Outcome::Success, details);
    let max = manager.config().max_packages;
    let stored = state
        .store()
        .set_packages(user.user_id, language.as_str(), &rows, quota(max), &event)
        .await;
    stored.map_err(|err| over_quota(err, max))
}

/// Adds `spec` (or replaces the spec of the package of the same name) once the new set's
/// environment is built.
pub async fn add(
    state: &AppState,
    manager: &PackageManager,
    user: &Caller,
    language: Language,
    spec: &PackageSpec,
) -> Result<(PutOutcome, PackageRow), PackageError> {
    super::storage::check_room(state, user.user_id).await?;
    let max = manager.config().max_packages;
    let mut set = stored_specs(state.store(), user.user_id, language).await?;
    set.retain(|s| s.name() != spec.name());
    if set.len() >= max {
        return Err(PackageError::TooMany { max });
    }
    set.push(spec.clone());
    let details = json!({ "language": language.as_str(), "spec": spec.spec() });
    let subject = (Action::PackageAdd, Some(spec.name().to_string()));
    install_or_refuse(state, manager, user, &subject, &details, (language, &set)).await?;
    let row = rows_of(user, language, std::slice::from_ref(spec)).remove(0);
    let event = audit::by(user, subject.0, subject.1, Outcome::Success, details);
    let stored = state.store().add_package(&row, quota(max), &event).await;
    let outcome = stored.map_err(|err| over_quota(err, max))?;
    Ok((outcome, row))
}

/// Removes the owner's package `name` of `language` and rebuilds the rest in the background;
/// `false` when there is no such package.
pub async fn remove(
    state: &AppState,
    manager: &PackageManager,
    user: &Caller,
    language: Language,
    name: &str,
) -> Result<bool, PackageError> {
    let details = json!({ "language": language.as_str() });
    let event = audit::by(
        user,
        Action::PackageRemove,
        Some(name.to_string()),
        Outcome::Success,
        details,
    );
    let removed = state
        .store()
        .remove_package(user.user_id, language.as_str(), name, &event)
        .await?;
    if removed {
        let specs = stored_specs(state.store(), user.user_id, language).await?;
        build_in_background(state, manager, user.user_id, language, specs);
    }
    Ok(removed)
}

/// The store's quota refusal as [`PackageError::TooMany`].
fn over_quota(err: StoreError, max: usize) -> PackageError {
    match err {
        StoreError::Conflict {
            constraint: Constraint::PackageQuota,
        } => PackageError::TooMany { max },
        err => err.into(),
    }
}

fn quota(max: usize) -> u32 {
    u32::try_from(max).unwrap_or(u32::MAX)
}

/// The stored rows of a language's new list.
fn rows_of(user: &Caller, language: Language, specs: &[PackageSpec]) -> Vec<PackageRow> {
    let now = OffsetDateTime::now_utc();
    specs
        .iter()
        .map(|s| PackageRow {
            user_id: user.user_id,
            language: language.as_str().to_string(),
            name: s.name().to_string(),
            spec: s.spec().to_string(),
            added_at: now,
        })
        .collect()
}

/// Builds `specs` (waiting for the build); a failure is audited as the change's action with
/// outcome `failure`, and nothing is stored.
async fn install_or_refuse(
    state: &AppState,
    manager: &PackageManager,
    user: &Caller,
    (action, resource): &(Action, Option<String>),
    details: &serde_json::Value,
    (language, specs): (Language, &[PackageSpec]),
) -> Result<(), PackageError> {
    let built = manager
        .ensure_for(user.user_id, state.store(), language, specs)
        .await;
    match built {
        Ok(_) => Ok(()),
        Err(err @ PackageError::InstallFailed { .. }) => {
            let mut details = details.clone();
            if let PackageError::InstallFailed { packages, .. } = &err {
                details["reason"] = json!("package_install_failed");
                details["failedPackages"] = json!(packages);
            }
            let event = audit::by(user, *action, resource.clone(), Outcome::Failure, details);
            state.store().append_audit(&event).await?;
            Err(err)
        }
        Err(err) => Err(err),
    }
}
