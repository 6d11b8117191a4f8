//! The run record: a run is on the audit log before its program starts, and its outcome is
//! recorded when it ends, whether or not its client is still there.

use std::time::Duration;

use pyth_on_types::{AuditEntry, ExecuteRequest};
use reqwest::Method;

use crate::support::{TestServer, TestUser};

/// The user's `execute` entries, oldest first.
async fn run_entries(user: &TestUser) -> Vec<AuditEntry> {
    let mut page = user
        .key
        .audit(Some(100), None, Some("execute"))
        .await
        .unwrap()
        .entries;
    page.reverse();
    page
}

/// Waits (up to 20 s) until the user has `n` `execute` entries.
async fn wait_for_entries(user: &TestUser, n: usize) -> Vec<AuditEntry> {
    for _ in 0..200 {
        let entries = run_entries(user).await;
        if entries.len() >= n {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "expected {n} execute entries, have {:?}",
        run_entries(user).await
    );
}

#[tokio::test]
async fn a_run_is_on_the_record_with_its_secret_names_before_its_program_ends() {
    let server = TestServer::start().await;
    let user = server.user().await;
    user.key
        .put_secret("API_TOKEN", "s3cr3t-value-42")
        .await
        .unwrap();
    let client = user.key.clone();
    let running = tokio::spawn(async move {
        client
            .execute(&ExecuteRequest {
                code: "import time; time.sleep(2); print('done')".into(),
                ..Default::default()
            })
            .await
    });

    // While the program sleeps, its start is already committed.
    let during = wait_for_entries(&user, 1).await;
    let finished_early = running.is_finished();
    let answer = running.await.unwrap().unwrap();
    let after = wait_for_entries(&user, 2).await;

    assert!(!finished_early, "the run ended before its start was seen");
    assert_eq!(during.len(), 1);
    let started = &during[0];
    assert_eq!(started.outcome, "started");
    assert_eq!(started.details["secrets"], serde_json::json!(["API_TOKEN"]));
    assert_eq!(
        started.details["executionId"],
        serde_json::json!(answer.execution_id)
    );
    assert!(started.details["codeSha256"].is_string());
    assert_eq!(after[1].outcome, "success");
    assert_eq!(after[1].details["exitCode"], 0);
    assert_eq!(after[0].resource, after[1].resource);
    let raw = serde_json::to_string(&after).unwrap();
    assert!(!raw.contains("s3cr3t-value-42"));
    assert!(user.key.verify_audit().await.unwrap().valid);
}

#[tokio::test]
async fn a_run_whose_client_went_away_still_ends_on_the_record() {
    let server = TestServer::start().await;
    let user = server.user().await;

    // The client gives up after 300 ms; the program runs for 1.5 s.
    let gave_up = user
        .key
        .request(Method::POST, "/api/v1/execute")
        .json(&ExecuteRequest {
            code: "import time; time.sleep(1.5); print('finished')".into(),
            ..Default::default()
        })
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    let entries = wait_for_entries(&user, 2).await;

    assert!(gave_up.is_err(), "the request should have timed out");
    assert_eq!(entries[0].outcome, "started");
    assert_eq!(entries[1].outcome, "success");
    assert_eq!(entries[1].details["exitCode"], 0);
    assert!(entries[1].details["durationMs"].as_u64().unwrap() >= 1400);
    assert!(user.key.verify_audit().await.unwrap().valid);
}

#[tokio::test]
async fn a_request_refused_before_it_runs_leaves_no_run_entry() {
    let server = TestServer::start().await;
    let user = server.user().await;

    let _ = user
        .key
        .execute(&ExecuteRequest {
            code: "print(1)".into(),
            language: Some("cobol".into()),
            ..Default::default()
        })
        .await;
    let runs = run_entries(&user).await;

    // A request refused before admission (an unknown language) never ran: no entry at all.
    assert!(runs.is_empty(), "{runs:?}");
}

#[tokio::test]
async fn a_program_that_fails_times_out_or_runs_out_of_memory_ends_as_a_failure_with_its_reason() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let cases = [
        ("import sys; sys.exit(3)", None, "exit_code"),
        ("while True: pass", Some(300), "timed_out"),
        ("x = bytearray(200 << 20)", None, "memory_exceeded"),
    ];
    for (code, timeout_ms, reason) in cases {
        user.key
            .execute(&ExecuteRequest {
                code: code.into(),
                timeout_ms,
                memory_mb: Some(64),
                ..Default::default()
            })
            .await
            .unwrap();
        let page = user
            .key
            .audit(Some(1), None, Some("execute"))
            .await
            .unwrap();
        let entry = &page.entries[0];
        assert_eq!(
            (entry.outcome.as_str(), entry.details["reason"].as_str()),
            ("failure", Some(reason)),
            "{code}: {entry:?}"
        );
    }
}
