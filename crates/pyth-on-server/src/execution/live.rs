//! Runs seen while they go: their output handed on as the program writes it (redacted across
//! chunk boundaries by [`crate::redact::Redactor`], whole UTF-8 characters), and runs stopped
//! before they end ([`Cancels`]: by the owner from any connection, or because a streaming
//! client went away).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::RunError;
use crate::redact::{OpenSecrets, Redactor};
use pyth_on_launcher::{Job, JobResult, LaunchError, Launcher, OutputChunk, Stream};
use pyth_on_types::ExecuteResponse;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Exit code reported for a run that was stopped (killed by SIGKILL).
const CANCELLED_EXIT: i32 = 128 + 9;

/// What a live run says: its output as it comes, then its answer.
#[derive(Debug)]
pub enum LiveEvent {
    /// Output of one stream, redacted, whole characters.
    Output {
        /// Which stream.
        stream: Stream,
        /// The text.
        text: String,
    },
    /// The run ended: its answer, or why it has none. The last event.
    Finished(Box<Result<ExecuteResponse, RunError>>),
}

/// A streamed run in progress ([`super::stream`]): its events, until `Finished`. Dropping it
/// (the client went away) stops the run.
#[derive(Debug)]
pub struct Streamed {
    /// The run's id.
    pub execution_id: Uuid,
    /// Its events.
    pub events: mpsc::UnboundedReceiver<LiveEvent>,
    /// Cancels the run when dropped.
    pub stop: tokio_util::sync::DropGuard,
}

/// Where a live run's events go.
pub type EventSink = mpsc::UnboundedSender<LiveEvent>;

/// How a run is watched: where its output events go, for a streamed run.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Output events, for a streamed run.
    pub events: Option<EventSink>,
}

/// The runs on this node that can be stopped, by execution id (from admission to the end of
/// their sandbox).
#[derive(Debug, Default)]
pub struct Cancels(Arc<Mutex<HashMap<Uuid, (Uuid, CancellationToken)>>>);

/// Why a cancel request found nothing to stop.
#[derive(Debug, thiserror::Error)]
#[error("no run of yours with this id is in progress on this server")]
pub struct NotRunning;

impl Cancels {
    /// Registers run `id` of `owner` until the returned guard is dropped; cancelling it
    /// fires `token`.
    pub fn register(&self, id: Uuid, owner: Uuid, token: CancellationToken) -> Registered {
        self.lock().insert(id, (owner, token));
        Registered {
            cancels: Cancels(Arc::clone(&self.0)),
            id,
        }
    }

    /// Stops run `id` if `owner` owns it and it is still going.
    pub fn cancel(&self, id: Uuid, owner: Uuid) -> Result<(), NotRunning> {
        match self.lock().get(&id) {
            Some((who, token)) if *who == owner => {
                token.cancel();
                Ok(())
            }
            _ => Err(NotRunning),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (Uuid, CancellationToken)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Keeps a run registered in [`Cancels`] while it lives.
#[derive(Debug)]
pub struct Registered {
    cancels: Cancels,
    id: Uuid,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.cancels.lock().remove(&self.id);
    }
}

/// Runs `job`, handing its output to `live.events` as it comes and stopping it when `cancel`
/// fires. `Ok((result, true))`: it was stopped; the result holds the output seen until then.
pub async fn run(
    launcher: &Launcher,
    job: Job,
    secrets: &OpenSecrets,
    (live, cancel): (&Live, &CancellationToken),
) -> Result<(JobResult, bool), LaunchError> {
    let started = std::time::Instant::now();
    let (raw_tx, raw_rx) = mpsc::unbounded_channel();
    let sink = live.events.is_some().then_some(raw_tx);
    let running = async {
        tokio::select! {
            ran = launcher.run_streamed(job, sink) => Some(ran),
            () = cancel.cancelled() => None,
        }
    };
    let send = |stream, text| {
        if let Some(events) = live.events.as_ref() {
            let _ = events.send(LiveEvent::Output { stream, text });
        }
    };
    let (ran, seen) = tokio::join!(running, forward(raw_rx, secrets, send));
    match ran {
        Some(ran) => Ok((ran?.result, false)),
        None => Ok((cancelled_result(seen, started.elapsed()), true)),
    }
}

/// What a stopped run answers: the output seen, killed by SIGKILL after `ran`.
fn cancelled_result((stdout, stderr): (Vec<u8>, Vec<u8>), ran: std::time::Duration) -> JobResult {
    JobResult {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        exit_code: CANCELLED_EXIT,
        signal: Some(9),
        duration_ms: ran.as_secs_f64() * 1000.0,
        ..JobResult::default()
    }
}

/// Hands each chunk on to `send`, redacted, whole characters, never empty, until the
/// sender of `raw` is gone; returns the raw bytes seen per stream. (Runs and session cells.)
pub(crate) async fn forward(
    mut raw: mpsc::UnboundedReceiver<OutputChunk>,
    secrets: &OpenSecrets,
    deliver: impl Fn(Stream, String),
) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Redactor::new(secrets), Redactor::new(secrets));
    let (mut seen_out, mut seen_err) = (Vec::new(), Vec::new());
    let send = |stream, text: String| {
        if !text.is_empty() {
            deliver(stream, text);
        }
    };
    while let Some(chunk) = raw.recv().await {
        let (redactor, seen) = match chunk.stream {
            Stream::Stdout => (&mut out, &mut seen_out),
            Stream::Stderr => (&mut err, &mut seen_err),
        };
        seen.extend_from_slice(&chunk.data);
        send(chunk.stream, redactor.push(&chunk.data));
    }
    send(Stream::Stdout, out.finish());
    send(Stream::Stderr, err.finish());
    (seen_out, seen_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_reaches_only_the_owners_run_and_ends_with_it() {
        let cancels = Cancels::default();
        let (id, owner) = (Uuid::now_v7(), Uuid::now_v7());
        let token = CancellationToken::new();
        let guard = cancels.register(id, owner, token.clone());
        assert!(cancels.cancel(id, Uuid::now_v7()).is_err(), "not the owner");
        assert!(!token.is_cancelled());
        cancels.cancel(id, owner).unwrap();
        assert!(token.is_cancelled());
        drop(guard);
        assert!(
            cancels.cancel(id, owner).is_err(),
            "gone once the run ended"
        );
    }
}
