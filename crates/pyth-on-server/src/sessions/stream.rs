//! Cells streamed as they run (`Accept: text/event-stream`): the cell's output handed on as
//! the kernel writes it (redacted across chunk boundaries, whole characters, as a streamed
//! run's), then its answer. The cell runs detached from the request: a client that goes away
//! does not stop it (the session's state must stay whole), its outcome is recorded the same.

use pyth_on_launcher::Stream;
use pyth_on_types::CellResponse;
use tokio::sync::mpsc;
use tracing::Instrument;
use uuid::Uuid;

use super::cells::run_cell;
use super::{get, Cell, SessionError};
use crate::caller::Caller;
use crate::execution::live::forward;
use crate::state::AppState;

/// What a streamed cell says: its output as it comes, then its answer.
#[derive(Debug)]
pub enum CellEvent {
    /// Output of one stream, redacted, whole characters.
    Output {
        /// Which stream.
        stream: Stream,
        /// The text.
        text: String,
    },
    /// The cell is over: its answer, or why it has none. The last event.
    Finished(Box<Result<CellResponse, SessionError>>),
}

/// Starts `cell` in the caller's session `id` and returns its events. Refused before anything
/// streams when the session is not found or busy.
pub async fn execute_stream(
    state: &AppState,
    user: &Caller,
    id: Uuid,
    cell: Cell,
) -> Result<mpsc::UnboundedReceiver<CellEvent>, SessionError> {
    let entry = get(state, user, id)?;
    if entry.kernel.try_lock().is_err() {
        return Err(SessionError::Busy);
    }
    let (events, receiver) = mpsc::unbounded_channel();
    let (owned, user) = (state.clone(), *user);
    let work = async move {
        let (raw_tx, raw_rx) = mpsc::unbounded_channel();
        let held = entry.clone();
        let deliver = |stream, text| {
            let _ = events.send(CellEvent::Output { stream, text });
        };
        let running = run_cell(&owned, &user, entry, cell, Some(raw_tx));
        let (answer, _) = tokio::join!(running, forward(raw_rx, &held.secrets, deliver));
        let _ = events.send(CellEvent::Finished(Box::new(answer)));
    };
    let work = crate::context::carry(work).instrument(tracing::Span::current());
    drop(state.runs().detach(work));
    Ok(receiver)
}
