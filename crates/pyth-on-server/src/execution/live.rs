//! Runs seen while they go: their output handed on as the program writes it (redacted, whole
//! UTF-8 characters), and runs stopped before they end ([`Cancels`]: by the owner from any
//! connection, or because a streaming client went away).
//!
//! Redaction across chunks: a secret value may be split between two writes of the program.
//! Each stream keeps back its last `longest secret - 1` bytes (and any unfinished UTF-8
//! sequence) until more comes or the stream ends, and never hands on a prefix that ends inside
//! an occurrence of a value, so every occurrence is replaced whole.

use std::collections::HashMap;
use std::sync::Mutex;

use pyth_on_launcher::{Job, JobResult, LaunchError, Launcher, OutputChunk, Stream};
use pyth_on_types::ExecuteResponse;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::RunError;
use crate::secrets::{self, OpenSecrets};

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

/// How a run can be watched and stopped.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Output events, for a streamed run.
    pub events: Option<EventSink>,
    /// Cancelled: the run is stopped (its sandbox torn down) and answers with what it had.
    pub cancel: CancellationToken,
}

/// The runs in progress on this node that can be stopped, by execution id.
#[derive(Debug, Default)]
pub struct Cancels(Mutex<HashMap<Uuid, (Uuid, CancellationToken)>>);

/// Why a cancel request found nothing to stop.
#[derive(Debug, thiserror::Error)]
#[error("no run of yours with this id is in progress on this server")]
pub struct NotRunning;

impl Cancels {
    /// Registers run `id` of `owner` until the returned guard is dropped.
    pub fn register(&self, id: Uuid, owner: Uuid, token: CancellationToken) -> Registered<'_> {
        self.lock().insert(id, (owner, token));
        Registered { cancels: self, id }
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
pub struct Registered<'a> {
    cancels: &'a Cancels,
    id: Uuid,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.cancels.lock().remove(&self.id);
    }
}

/// Runs `job`, handing its output to `live.events` as it comes and stopping it when
/// `live.cancel` fires. `Ok((result, true))`: it was stopped; the result holds the output
/// seen until then.
pub async fn run(
    launcher: &Launcher,
    job: Job,
    secrets: &OpenSecrets,
    live: &Live,
) -> Result<(JobResult, bool), LaunchError> {
    let (raw_tx, raw_rx) = mpsc::unbounded_channel();
    let sink = live.events.is_some().then_some(raw_tx);
    let running = async {
        tokio::select! {
            ran = launcher.run_streamed(job, sink) => Some(ran),
            () = live.cancel.cancelled() => None,
        }
    };
    let (ran, seen) = tokio::join!(running, forward(raw_rx, secrets, live.events.as_ref()));
    match ran {
        Some(ran) => Ok((ran?.result, false)),
        None => Ok((cancelled_result(seen), true)),
    }
}

/// What a stopped run answers: the output seen, killed by SIGKILL.
fn cancelled_result((stdout, stderr): (Vec<u8>, Vec<u8>)) -> JobResult {
    JobResult {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        exit_code: CANCELLED_EXIT,
        signal: Some(9),
        ..JobResult::default()
    }
}

/// Hands each chunk on, redacted, until the run's sender is gone; returns the raw bytes seen
/// per stream.
async fn forward(
    mut raw: mpsc::UnboundedReceiver<OutputChunk>,
    secrets: &OpenSecrets,
    events: Option<&EventSink>,
) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Redactor::new(secrets), Redactor::new(secrets));
    let (mut seen_out, mut seen_err) = (Vec::new(), Vec::new());
    let send = |stream, text: String| {
        if let (Some(events), false) = (events, text.is_empty()) {
            let _ = events.send(LiveEvent::Output { stream, text });
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

/// One stream's redaction across chunk boundaries (see the module docs).
pub struct Redactor<'a> {
    secrets: &'a OpenSecrets,
    /// The values that are redacted (at least `MIN_REDACTED_LEN` bytes), as bytes.
    values: Vec<Zeroizing<Vec<u8>>>,
    /// Bytes kept back: they may start a value that continues in the next chunk.
    pending: Vec<u8>,
    /// How many bytes are kept back at most (the longest value's length - 1).
    hold: usize,
}

impl std::fmt::Debug for Redactor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("values", &self.values.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl<'a> Redactor<'a> {
    /// A redactor of `secrets`' values.
    pub fn new(secrets: &'a OpenSecrets) -> Self {
        let values: Vec<Zeroizing<Vec<u8>>> = secrets
            .iter()
            .map(|(_, v)| v.as_bytes())
            .filter(|v| v.len() >= secrets::MIN_REDACTED_LEN)
            .map(|v| Zeroizing::new(v.to_vec()))
            .collect();
        let hold = values.iter().map(|v| v.len() - 1).max().unwrap_or(0);
        Self {
            secrets,
            values,
            pending: Vec::new(),
            hold,
        }
    }

    /// Takes a chunk; returns the text that can be handed on now.
    pub fn push(&mut self, data: &[u8]) -> String {
        self.pending.extend_from_slice(data);
        let cut = self.safe_cut();
        let rest = self.pending.split_off(cut);
        let ready = std::mem::replace(&mut self.pending, rest);
        secrets::redact(&String::from_utf8_lossy(&ready), self.secrets)
    }

    /// The stream ended: everything left.
    pub fn finish(&mut self) -> String {
        let ready = std::mem::take(&mut self.pending);
        secrets::redact(&String::from_utf8_lossy(&ready), self.secrets)
    }

    /// Where the pending bytes can be cut: before the held-back tail and any unfinished
    /// character, and never inside an occurrence of a value.
    fn safe_cut(&self) -> usize {
        let len = self.pending.len();
        let mut cut = char_boundary(&self.pending, len.saturating_sub(self.hold));
        // An occurrence straddling the cut lies wholly in `pending` (it starts less than the
        // longest value before the tail): move the cut past it, until none straddles.
        loop {
            let past = self
                .values
                .iter()
                .filter_map(|v| self.straddling_end(v, cut))
                .max();
            match past {
                Some(end) if end > cut => cut = end,
                _ => return cut,
            }
        }
    }

    /// The end of an occurrence of `value` that starts before `cut` and ends after it.
    fn straddling_end(&self, value: &[u8], cut: usize) -> Option<usize> {
        let first = (cut + 1).saturating_sub(value.len());
        (first..cut)
            .filter(|s| s + value.len() <= self.pending.len())
            .find(|s| &self.pending[*s..*s + value.len()] == value)
            .map(|s| s + value.len())
    }
}

/// `at`, moved back to the start of a UTF-8 sequence that does not end after `at`.
fn char_boundary(bytes: &[u8], at: usize) -> usize {
    let lead = (at.saturating_sub(3)..at)
        .rev()
        .find(|i| bytes[*i] & 0xC0 != 0x80);
    let Some(i) = lead else {
        return at;
    };
    let width = match bytes[i] {
        b if b >= 0xF0 => 4,
        b if b >= 0xE0 => 3,
        b if b >= 0xC0 => 2,
        _ => 1,
    };
    if i + width > at {
        i
    } else {
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(values: &[&str]) -> OpenSecrets {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("S{i}"), Zeroizing::new((*v).to_string())))
            .collect()
    }

    /// Feeds `text` cut at every position in two, and returns what came out each time.
    fn split_everywhere(text: &str, secrets: &OpenSecrets) -> Vec<String> {
        (0..=text.len())
            .map(|at| {
                let mut r = Redactor::new(secrets);
                let mut out = r.push(&text.as_bytes()[..at]);
                out += &r.push(&text.as_bytes()[at..]);
                out + &r.finish()
            })
            .collect()
    }

    #[test]
    fn a_secret_split_between_two_chunks_is_still_masked() {
        let s = secrets(&["hunter2-token"]);
        for out in split_everywhere("before hunter2-token after", &s) {
            assert_eq!(out, "before *** after");
        }
    }

    #[test]
    fn a_character_split_between_two_chunks_comes_out_whole() {
        let s = secrets(&[]);
        for out in split_everywhere("naïve 日本 🎉", &s) {
            assert_eq!(out, "naïve 日本 🎉");
        }
        let mut r = Redactor::new(&s);
        assert_eq!(r.push(&"日".as_bytes()[..2]), "", "half a character waits");
        assert_eq!(r.push(&"日".as_bytes()[2..]), "日");
    }

    #[test]
    fn without_secrets_output_is_handed_on_at_once() {
        let s = secrets(&["abc"]); // shorter than the redaction minimum
        let mut r = Redactor::new(&s);
        assert_eq!(r.push(b"abc and more"), "abc and more");
    }

    #[test]
    fn only_the_possible_start_of_a_secret_is_held_back() {
        let s = secrets(&["0123456789"]);
        let mut r = Redactor::new(&s);
        assert_eq!(r.push(b"hello world, 01234"), "hello wor");
        assert_eq!(r.push(b"56789!"), "ld, ***");
        assert_eq!(r.finish(), "!");
    }

    #[test]
    fn overlapping_secrets_are_masked_whole() {
        let s = secrets(&["abcdefgh", "efghijkl"]);
        for out in split_everywhere("xx abcdefghijkl yy", &s) {
            assert!(!out.contains("efgh") && !out.contains("abcd"), "{out}");
        }
    }

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
