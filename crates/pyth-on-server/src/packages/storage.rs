//! The storage quota: what a user keeps on the server. It counts
//!
//! - the bytes of their encrypted programs, as stored (the payloads);
//! - the size of the package environments of their current package lists (one per language
//!   with packages, once built). Environments are content-addressed and shared: a user is
//!   charged the whole size of each environment their lists need, whoever else needs it too
//!   (what a user may cause the server to keep does not shrink because another user's list is
//!   the same). Environments built only for a run's own `packages` are not counted: they are
//!   not kept for the user, and the package garbage collector removes them.
//!
//! An encrypted-code write is refused when it would pass the quota, checked under the user's
//! lock with the write ([`pyth_on_store::QuotaStore::put_zk_code_within`]). A package-list
//! change is refused while the user is at or over the quota: its environment's size is only
//! known once built, so that build may take the user past the quota by its own size.

use pyth_on_store::{Constraint, PutOutcome, StoreError, ZkCodeRow, PACKAGE_ENV_READY};
use uuid::Uuid;

use super::service::stored_specs;
use crate::domain::Language;
use crate::quotas::{bound, limits, Quota, QuotaError, QuotaExceeded};
use crate::state::AppState;

/// Bytes `user_id` holds: encrypted programs and their package lists' environments.
pub async fn used(state: &AppState, user_id: Uuid) -> Result<u64, StoreError> {
    let code = state.store().zk_code_bytes(user_id).await?;
    let code = u64::try_from(code).unwrap_or(0);
    Ok(code.saturating_add(environment_bytes(state, user_id).await?))
}

/// The size of the built environments of `user_id`'s stored package lists.
async fn environment_bytes(state: &AppState, user_id: Uuid) -> Result<u64, StoreError> {
    let Some(manager) = state.packages() else {
        return Ok(0);
    };
    let mut total = 0u64;
    for language in [Language::Python, Language::Javascript] {
        let specs = match stored_specs(state.store(), user_id, language).await {
            Ok(specs) if !specs.is_empty() => specs,
            // No list, or one this server can no longer read: nothing kept for it.
            _ => continue,
        };
        // No runtime for the language: no environment can exist for it.
        let Ok(key) = manager.env_key(language, &specs).await else {
            continue;
        };
        if let Some(env) = state.store().get_package_env(&key).await? {
            if env.status == PACKAGE_ENV_READY {
                total = total.saturating_add(u64::try_from(env.size_bytes).unwrap_or(0));
            }
        }
    }
    Ok(total)
}

fn exceeded(limit: u64, used: u64) -> QuotaExceeded {
    QuotaExceeded {
        quota: Quota::StorageBytes,
        limit,
        used: used as f64,
        reset_at: None,
    }
}

/// Refuses a package-list change while `user_id` holds their whole storage quota or more.
pub async fn check_room(state: &AppState, user_id: Uuid) -> Result<(), QuotaError> {
    let limit = limits(state, user_id).await?.storage_bytes;
    if limit == 0 {
        return Ok(());
    }
    let used = used(state, user_id).await?;
    if used >= limit {
        return Err(exceeded(limit, used).into());
    }
    Ok(())
}

/// Stores `row` (at most `max_items` programs) unless the user's storage would pass their
/// quota with it; `Conflict` on [`Constraint::ZkCodeQuota`] passes through for the caller.
pub async fn put_zk_code(
    state: &AppState,
    row: &ZkCodeRow,
    max_items: u32,
    audit: &pyth_on_store::AuditEvent,
) -> Result<PutOutcome, QuotaError> {
    let limit = limits(state, row.user_id).await?.storage_bytes;
    let environments = if limit == 0 {
        0
    } else {
        environment_bytes(state, row.user_id).await?
    };
    let for_code = bound(limit).saturating_sub(i64::try_from(environments).unwrap_or(i64::MAX));
    let max_bytes = if limit == 0 { i64::MAX } else { for_code };
    let stored = state
        .store()
        .put_zk_code_within(row, max_items, max_bytes, audit)
        .await;
    match stored {
        Ok(outcome) => Ok(outcome),
        Err(err) if err.is_conflict_on(Constraint::StorageQuota) => {
            let held = used(state, row.user_id).await?;
            Err(exceeded(limit, held).into())
        }
        Err(err) => Err(err.into()),
    }
}
