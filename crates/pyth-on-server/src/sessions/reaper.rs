//! The reaper: a task that ends the sessions past their idle timeout or their lifetime.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::state::AppState;

/// How often the reaper looks.
pub const TICK: Duration = Duration::from_millis(250);

/// Spawns the reaper for the server's lifetime.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            reap(&state).await;
        }
    });
}

/// Ends every session over now; its `session.end` entry says why.
pub async fn reap(state: &AppState) {
    for (entry, reason) in state.sessions().take_expired(Instant::now()) {
        let by = entry.opener;
        super::end(state, &by, &entry, reason, json!({})).await;
    }
}
