//! A streamed run: the program's output copied to this terminal as it arrives, and Ctrl-C
//! turned into a cancel of the run (`POST /api/v1/executions/{id}/cancel`), waiting up to
//! [`CANCEL_GRACE`] for its result; a second Ctrl-C quits at once.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use pyth_on_client::{Client, ClientError, RunEvent};
use pyth_on_types::{ErrorBody, ExecuteRequest, ExecuteResponse};
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;

/// How long a cancelled run gets to send its result.
pub const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// How a streamed run ended.
#[derive(Debug)]
pub enum Ending {
    /// Its result arrived.
    Finished(Box<ExecuteResponse>),
    /// The sandbox failed: the `error` event.
    Failed(ErrorBody),
    /// Ctrl-C: the result if it arrived within the grace period.
    Interrupted(Option<Box<ExecuteResponse>>),
}

/// What the loop does with one event after `start`: keep reading, or stop with the run's
/// ending.
fn handle(event: RunEvent) -> anyhow::Result<Option<Ending>> {
    match event {
        RunEvent::Start { .. } => {}
        RunEvent::Stdout(text) => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .context("writing to stdout")?;
        }
        RunEvent::Stderr(text) => {
            let mut err = std::io::stderr().lock();
            err.write_all(text.as_bytes())
                .and_then(|()| err.flush())
                .context("writing to stderr")?;
        }
        RunEvent::Result(result) => return Ok(Some(Ending::Finished(result))),
        RunEvent::Error(body) => return Ok(Some(Ending::Failed(body))),
    }
    Ok(None)
}

/// Streams `request`'s run to this terminal until it ends or is interrupted.
pub async fn run(client: &Client, request: &ExecuteRequest) -> anyhow::Result<Ending> {
    let mut interrupts = signal(SignalKind::interrupt()).context("listening for Ctrl-C")?;
    // Ctrl-C before the stream opens (the run waits for a slot or its packages): closing the
    // connection is enough to stop it.
    let mut stream = tokio::select! {
        stream = client.execute_stream(request) => stream.map_err(super::refusal)?,
        _ = interrupts.recv() => return Ok(Ending::Interrupted(None)),
    };
    let (mut id, mut deadline) = (None, None);
    loop {
        let event = tokio::select! {
            event = stream.next() => event,
            _ = interrupts.recv() => {
                let Some(run) = id.filter(|_| deadline.is_none()) else {
                    return Ok(Ending::Interrupted(None));
                };
                eprintln!("pyth-on: cancelling the run (Ctrl-C again to quit at once)");
                let client = client.clone();
                in_background(async move { client.cancel(run).await });
                deadline = Some(Instant::now() + CANCEL_GRACE);
                continue;
            }
            () = sleep_until(deadline) => {
                let secs = CANCEL_GRACE.as_secs();
                eprintln!("pyth-on: no result {secs} s after the cancel; quitting");
                return Ok(Ending::Interrupted(None));
            }
        };
        let event = match event {
            None => anyhow::bail!("the server closed the stream before the run's result"),
            Some(event) => event.context("reading the run's events")?,
        };
        if let RunEvent::Start { execution_id } = event {
            id = Some(execution_id);
            continue;
        }
        match (handle(event)?, deadline) {
            (Some(Ending::Finished(result)), Some(_)) => {
                return Ok(Ending::Interrupted(Some(result)))
            }
            (Some(ending), _) => return Ok(ending),
            (None, _) => {}
        }
    }
}

/// Runs the cancel request without holding up the reading of the run's events.
fn in_background(cancel: impl Future<Output = Result<(), ClientError>> + Send + 'static) {
    tokio::spawn(async move {
        if let Err(e) = cancel.await {
            eprintln!("pyth-on: cancelling the run failed: {e}");
        }
    });
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
