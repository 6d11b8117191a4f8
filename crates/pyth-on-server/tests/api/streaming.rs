//! Streamed runs (`Accept: text/event-stream`) and stopping runs: output arrives while the
//! program runs, secrets stay masked across chunk boundaries, and a disconnect or a cancel
//! stops the sandbox and leaves the outcome on the record.

use std::time::{Duration, Instant};

use pyth_on_client::{RunEvent, RunStream};
use pyth_on_types::{AuditEntry, ExecuteRequest};

use crate::support::{assert_api_error, TestServer, TestUser};

fn py(code: &str) -> ExecuteRequest {
    ExecuteRequest {
        code: code.into(),
        ..Default::default()
    }
}

/// Every event until the last, with the time each arrived.
async fn drain(stream: &mut RunStream) -> Vec<(Duration, RunEvent)> {
    let started = Instant::now();
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        events.push((started.elapsed(), event.unwrap()));
    }
    events
}

/// The user's `execute` entries whose outcome is recorded, newest first (waits up to 20 s).
async fn ended_runs(user: &TestUser, n: usize) -> Vec<AuditEntry> {
    for _ in 0..200 {
        let page = user
            .key
            .audit(Some(100), None, Some("execute"))
            .await
            .unwrap();
        let ended: Vec<AuditEntry> = page
            .entries
            .into_iter()
            .filter(|e| e.outcome != "started")
            .collect();
        if ended.len() >= n {
            return ended;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} ended runs on the record");
}

/// The per-run uids of the disconnect test's server (no other test uses them).
const UIDS: std::ops::Range<u32> = 1_650_000_000..1_650_000_008;

/// Whether any process runs under [`UIDS`].
fn run_processes_alive() -> bool {
    crate::session_support::processes_alive(&UIDS)
}

#[tokio::test]
async fn output_arrives_while_the_program_runs_and_the_result_comes_last() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let code = "import time\nfor i in range(5):\n    print(i, flush=True)\n    time.sleep(0.5)\n";
    let mut stream = user.key.execute_stream(&py(code)).await.unwrap();
    let events = drain(&mut stream).await;
    assert!(matches!(events[0].1, RunEvent::Start { .. }), "{events:?}");
    let first_out = events
        .iter()
        .find(|(_, e)| matches!(e, RunEvent::Stdout(_)))
        .expect("stdout events");
    let (last_at, RunEvent::Result(result)) = events.last().unwrap() else {
        panic!("the last event is the result: {events:?}");
    };
    assert!(
        *last_at - first_out.0 > Duration::from_millis(1500),
        "the first chunk came {:?} before the end",
        *last_at - first_out.0
    );
    let streamed: String = events
        .iter()
        .filter_map(|(_, e)| match e {
            RunEvent::Stdout(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, "0\n1\n2\n3\n4\n");
    assert_eq!(
        (result.output.as_str(), result.exit_code),
        (streamed.as_str(), 0)
    );
}

#[tokio::test]
async fn a_secret_written_in_two_pieces_is_masked_in_the_stream() {
    let server = TestServer::start().await;
    let user = server.user().await;
    user.key
        .put_secret("API_TOKEN", "s3cr3t-value-42")
        .await
        .unwrap();
    let code = "import os, sys, time\n\
                t = os.environ['API_TOKEN']\n\
                sys.stdout.write('a ' + t[:6]); sys.stdout.flush(); time.sleep(0.3)\n\
                sys.stdout.write(t[6:] + ' b\\n'); sys.stderr.write('e ' + t + '\\n')\n";
    let mut stream = user.key.execute_stream(&py(code)).await.unwrap();
    let events = drain(&mut stream).await;
    let (mut out, mut err) = (String::new(), String::new());
    for (_, e) in &events {
        match e {
            RunEvent::Stdout(t) => out += t,
            RunEvent::Stderr(t) => err += t,
            _ => {}
        }
    }
    assert_eq!(
        (out.as_str(), err.as_str()),
        ("a *** b\n", "e ***\n"),
        "{events:?}"
    );
}

#[tokio::test]
async fn closing_the_stream_stops_the_run_and_records_it_as_cancelled() {
    let server = TestServer::start_with(|s| {
        s.runs.run_uid_start = UIDS.start;
        s.runs.run_uid_count = UIDS.end - UIDS.start;
    })
    .await;
    let user = server.user().await;
    let code = "import time\nprint('up', flush=True)\ntime.sleep(30)\n";
    let mut stream = user.key.execute_stream(&py(code)).await.unwrap();
    while let Some(event) = stream.next().await {
        if matches!(event.unwrap(), RunEvent::Stdout(_)) {
            break;
        }
    }
    assert!(
        run_processes_alive(),
        "the program runs as one of this server's uids"
    );
    let left = Instant::now();
    drop(stream);
    let entries = ended_runs(&user, 1).await;
    assert_eq!(entries[0].outcome, "failure", "{:?}", entries[0]);
    assert_eq!(entries[0].details["reason"], "cancelled");
    assert!(
        left.elapsed() < Duration::from_secs(10),
        "{:?}",
        left.elapsed()
    );
    for _ in 0..100 {
        if !run_processes_alive() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!run_processes_alive(), "the sandbox is gone");
}

#[tokio::test]
async fn the_owner_can_cancel_a_run_from_another_connection_and_no_one_else_can() {
    let server = TestServer::start().await;
    let (owner, other) = (server.user().await, server.user().await);
    let code = "import time\nprint('up', flush=True)\ntime.sleep(30)\n";
    let mut stream = owner.key.execute_stream(&py(code)).await.unwrap();
    let Some(Ok(RunEvent::Start { execution_id })) = stream.next().await else {
        panic!("a start event first");
    };
    assert_api_error(other.key.cancel(execution_id).await, 404, "not_found");
    tokio::time::sleep(Duration::from_millis(300)).await;
    owner.jwt.cancel(execution_id).await.unwrap();
    let events = drain(&mut stream).await;
    let Some((_, RunEvent::Result(result))) = events.last() else {
        panic!("a result: {events:?}");
    };
    assert_eq!(result.cancelled, Some(true));
    assert_eq!(result.exit_code, 137);
    assert!(result.duration_ms >= 300, "ran {} ms", result.duration_ms);
    assert_api_error(owner.key.cancel(execution_id).await, 404, "not_found");
    assert_api_error(
        owner.key.cancel(uuid::Uuid::now_v7()).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn a_refused_streamed_run_is_an_ordinary_json_error() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let bad = ExecuteRequest {
        timeout_ms: Some(0),
        ..py("print(1)")
    };
    assert_api_error(
        user.key.execute_stream(&bad).await,
        400,
        "validation_failed",
    );
}
