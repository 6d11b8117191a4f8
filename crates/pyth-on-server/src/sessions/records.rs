//! Session records: while a session of this node is open it is on the record in the database
//! (owner, node, settings, deadlines) when the node has an advertised URL (`--node-url`), so
//! the other nodes sharing the database can forward requests for it to this node and list it.
//! The record is written when the session opens, touched after each cell, and removed at every
//! end ([`super::end`]). At start a node clears the records its earlier run left; every node
//! clears records long past their expiry (their node is gone); a node that finds a session's
//! node gone clears its record ([`close_dead`]). A session ended with its node gets its
//! `session.end` entry (reason `node_gone`) from whoever took its record off, exactly once.
//! Without a URL nothing is recorded: sessions are this node's alone.

use std::time::Duration;

use pyth_on_store::{AuditEvent, SessionRecord, StoreError};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::registry::Entry;
use super::EndReason;
use crate::audit::{Action, Outcome};
use crate::state::AppState;

/// How often each node clears records past their expiry.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How long past its expiry a record is kept (its node may be ending it, or running a cell
/// begun before its idle deadline): a minute on top of the longest cell.
fn expiry_margin(state: &AppState) -> time::Duration {
    let cell = time::Duration::milliseconds(
        i64::try_from(state.settings().max_timeout_ms).unwrap_or(i64::MAX),
    );
    cell.saturating_add(time::Duration::minutes(1))
}

fn to_time(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// When `entry` ends if unused: the earlier of its idle deadline and its lifetime's end.
pub fn expires_at(entry: &Entry) -> OffsetDateTime {
    let (_, last_used_at) = entry.last_used();
    let idle_end = last_used_at.saturating_add(to_time(entry.idle_timeout));
    let life_end = entry.created_at.saturating_add(to_time(entry.max_lifetime));
    idle_end.min(life_end)
}

/// Puts the just-opened `entry` on the record (nothing without a node URL).
pub async fn opened(state: &AppState, entry: &Entry) -> Result<(), StoreError> {
    let Some(url) = state.node().url() else {
        return Ok(());
    };
    state
        .store()
        .put_session_record(&record_of(state, url, entry))
        .await
}

/// The record of `entry`, held by this node at `url`.
fn record_of(state: &AppState, url: &str, entry: &Entry) -> SessionRecord {
    SessionRecord {
        session_id: entry.id,
        user_id: entry.owner(),
        node_url: url.to_owned(),
        node_instance: state.node().instance(),
        language: entry.language.as_str().to_owned(),
        memory_mb: i64::try_from(entry.memory_mb).unwrap_or(i64::MAX),
        idle_timeout_secs: secs(entry.idle_timeout),
        max_lifetime_secs: secs(entry.max_lifetime),
        created_at: entry.created_at,
        last_used_at: entry.last_used().1,
        expires_at: expires_at(entry),
    }
}

/// Gives the record written before `entry`'s kernel started (by the sessions quota) the
/// opened session's times.
pub async fn moved(state: &AppState, entry: &Entry) -> Result<(), StoreError> {
    let Some(url) = state.node().url() else {
        return Ok(());
    };
    state
        .store()
        .session_record_opened(&record_of(state, url, entry))
        .await
        .map(drop)
}

/// Moves `entry`'s record on after a cell (its new last use and expiry), without holding up
/// the cell's answer.
pub fn touched(state: &AppState, entry: &Entry) {
    if state.node().url().is_none() {
        return;
    }
    let (store, id) = (state.store_arc(), entry.id);
    let (used, expires) = (entry.last_used().1, expires_at(entry));
    tokio::spawn(async move {
        if let Err(err) = store.touch_session_record(id, used, expires).await {
            tracing::warn!(session = %id, error = %err, "a session's record was not moved on");
        }
    });
}

/// Takes session `id` off the record (it ended, or its node is gone). A failure is logged:
/// the record then goes at its expiry.
pub async fn remove(state: &AppState, id: Uuid) {
    if state.node().url().is_none() {
        return;
    }
    if let Err(err) = state.store().delete_session_record(id).await {
        tracing::warn!(session = %id, error = %err, "a session's record was not removed");
    }
}

/// Takes the record of a session whose node is gone (it did not answer, or no longer has the
/// session) off the record and, if this call took it off, puts the session's end on its
/// owner's audit trail.
pub async fn close_dead(state: &AppState, record: &SessionRecord) {
    match state.store().delete_session_record(record.session_id).await {
        Ok(true) => ended_with_their_node(state, std::slice::from_ref(record)).await,
        Ok(false) => {}
        Err(err) => tracing::warn!(session = %record.session_id, error = %err,
            "the record of a session whose node is gone was not removed"),
    }
}

/// The `session.end` entries (reason `node_gone`) of sessions whose records this node took
/// off, counted in this node's metrics. A failure is logged.
async fn ended_with_their_node(state: &AppState, gone: &[SessionRecord]) {
    for record in gone {
        state.metrics().session_ended(EndReason::NodeGone.as_str());
        let event = AuditEvent {
            id: Uuid::now_v7(),
            user_id: record.user_id,
            at: OffsetDateTime::now_utc(),
            action: Action::SessionEnd.as_str().to_owned(),
            resource: Some(record.session_id.to_string()),
            outcome: Outcome::Success.as_str().to_owned(),
            ip: None,
            auth_method: None,
            api_key_id: None,
            details: json!({
                "reason": EndReason::NodeGone.as_str(),
                "node": record.node_url,
                "closedBy": state.node().url(),
            }),
        };
        if let Err(err) = state.store().append_audit(&event).await {
            tracing::error!(error = %err, session = %record.session_id,
                "the end of a session whose node is gone is not on the record");
        }
    }
}

/// The record of session `id`, whoever owns it (`None` without a node URL: nothing is shared).
pub async fn find(state: &AppState, id: Uuid) -> Result<Option<SessionRecord>, StoreError> {
    if state.node().url().is_none() {
        return Ok(None);
    }
    state.store().session_record(id).await
}

/// `user`'s sessions on the other nodes, from their records, oldest first: those not past
/// their expiry (a record of an earlier run of this node is left out).
pub async fn elsewhere(state: &AppState, user: Uuid) -> Result<Vec<SessionRecord>, StoreError> {
    if state.node().url().is_none() {
        return Ok(Vec::new());
    }
    let now = OffsetDateTime::now_utc();
    let records = state.store().session_records_of(user).await?;
    Ok(records
        .into_iter()
        .filter(|r| state.node().holder(r) == super::node::Holder::Elsewhere)
        .filter(|r| r.expires_at > now)
        .collect())
}

/// At start, before serving: clears the records an earlier run of this node left (those
/// sessions died with it). Returns how many.
pub async fn clear_left_by_earlier_runs(state: &AppState) -> Result<usize, StoreError> {
    let Some(url) = state.node().url() else {
        return Ok(0);
    };
    let cleared = state
        .store()
        .delete_session_records_left_by(url, state.node().instance())
        .await?;
    if !cleared.is_empty() {
        tracing::warn!(
            sessions = cleared.len(),
            "records of sessions that ended with this node's earlier run cleared"
        );
    }
    ended_with_their_node(state, &cleared).await;
    Ok(cleared.len())
}

/// Every [`SWEEP_EVERY`], for as long as the server runs: clears records of any node past
/// their expiry and its margin (a node that died and never came back).
pub fn spawn_sweeper(state: AppState) {
    if state.node().url().is_none() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            let before = OffsetDateTime::now_utc().saturating_sub(expiry_margin(&state));
            match state.store().delete_session_records_expired(before).await {
                Ok(gone) if gone.is_empty() => {}
                Ok(gone) => {
                    tracing::info!(sessions = gone.len(), "records of expired sessions cleared");
                    ended_with_their_node(&state, &gone).await;
                }
                Err(err) => tracing::warn!(error = %err, "could not clear expired session records"),
            }
        }
    });
}
