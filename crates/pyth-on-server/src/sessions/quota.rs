//! The sessions quota: how many sessions a user holds open at once on every node. With
//! several nodes (an advertised `--node-url`) the session records are the count, and
//! [`hold`] puts the session on the record before its kernel starts, in one transaction with
//! the count ([`pyth_on_store::QuotaStore::put_session_record_within`]); a single node
//! without a URL counts its own registry, where the session's place is already reserved.

use std::time::Duration;

use pyth_on_store::{Constraint, SessionRecord, StoreError};
use time::OffsetDateTime;
use uuid::Uuid;

use super::NewSession;
use crate::quotas::{bound, limits, Quota, QuotaError, QuotaExceeded};
use crate::state::AppState;

/// Sessions `user_id` holds open now: on every node (their records) when this node shares
/// them, else on this node (those opening included).
pub async fn open(state: &AppState, user_id: Uuid) -> Result<usize, StoreError> {
    if state.node().url().is_some() {
        Ok(state.store().session_records_of(user_id).await?.len())
    } else {
        Ok(state.sessions().held_by(user_id))
    }
}

/// Holds a place under the quota for session `id` of `user_id` before its kernel starts:
/// `Ok(true)` when it went on the record (the caller takes it off if the session does not
/// open), `Ok(false)` when this node keeps no records (its registry's reservation is the
/// place).
pub async fn hold(
    state: &AppState,
    user_id: Uuid,
    id: Uuid,
    new: &NewSession,
) -> Result<bool, QuotaError> {
    let limit = limits(state, user_id).await?.sessions;
    let Some(url) = state.node().url() else {
        // This session's own reservation is among those held.
        let held = state.sessions().held_by(user_id);
        if limit > 0 && held as u64 > limit {
            return Err(exceeded(limit, held.saturating_sub(1)).into());
        }
        return Ok(false);
    };
    let record = opening_record(state, url, user_id, id, new);
    match state
        .store()
        .put_session_record_within(&record, bound(limit))
        .await
    {
        Ok(()) => Ok(true),
        Err(err) if err.is_conflict_on(Constraint::SessionQuota) => {
            let held = state.store().session_records_of(user_id).await?.len();
            Err(exceeded(limit, held).into())
        }
        Err(err) => Err(err.into()),
    }
}

fn exceeded(limit: u64, held: usize) -> QuotaExceeded {
    QuotaExceeded {
        quota: Quota::Sessions,
        limit,
        used: held as f64,
        reset_at: None,
    }
}

/// The record of a session about to open (its times move on once it has).
fn opening_record(
    state: &AppState,
    url: &str,
    user_id: Uuid,
    id: Uuid,
    new: &NewSession,
) -> SessionRecord {
    let now = OffsetDateTime::now_utc();
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let first_end = new.idle_timeout.min(new.max_lifetime);
    let expires_at =
        now.saturating_add(time::Duration::try_from(first_end).unwrap_or(time::Duration::MAX));
    SessionRecord {
        session_id: id,
        user_id,
        node_url: url.to_owned(),
        node_instance: state.node().instance(),
        language: new.language.as_str().to_owned(),
        memory_mb: i64::try_from(new.memory_mb).unwrap_or(i64::MAX),
        idle_timeout_secs: secs(new.idle_timeout),
        max_lifetime_secs: secs(new.max_lifetime),
        created_at: now,
        last_used_at: now,
        expires_at,
    }
}
