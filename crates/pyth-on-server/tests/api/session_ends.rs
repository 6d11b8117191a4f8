//! Ending a session while a cell runs: a delete, the end of its lifetime and the server's
//! stop do not wait for the cell; its sandbox is gone at once and the cell's request answers.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::session_support::{end_reason, open, processes_alive, send, server_with_uids, within};

/// The uids of the delete test's server.
const BUSY_DELETE_UIDS: std::ops::Range<u32> = 1_650_500_000..1_650_500_004;

#[tokio::test]
async fn deleting_a_session_stops_its_running_cell_at_once() {
    let server = server_with_uids(&BUSY_DELETE_UIDS).await;
    let user = server.user().await;
    let id = open(&user.key, json!({})).await.id;
    let path = format!("/api/v1/sessions/{id}/execute");
    let body = json!({ "code": "import time\ntime.sleep(50)", "timeoutMs": 60_000 });
    let running = tokio::spawn({
        let client = user.key.clone();
        async move { send(&client, Method::POST, &path, Some(body)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let session = format!("/api/v1/sessions/{id}");
    let (status, _) = send(&user.key, Method::DELETE, &session, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let (status, body) = running.await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let gone = within(Duration::from_secs(5), || {
        !processes_alive(&BUSY_DELETE_UIDS)
    })
    .await;
    assert!(gone, "the session's processes are still there");
}

#[tokio::test]
async fn the_end_of_its_lifetime_stops_a_session_in_the_middle_of_a_cell() {
    let server = server_with_uids(&(1_650_600_000..1_650_600_004)).await;
    let user = server.user().await;
    let id = open(&user.key, json!({ "maxLifetimeSec": 1 })).await.id;
    let path = format!("/api/v1/sessions/{id}/execute");
    let body = json!({ "code": "import time\ntime.sleep(50)", "timeoutMs": 60_000 });
    let started = Instant::now();
    let (status, _) = send(&user.key, Method::POST, &path, Some(body)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(end_reason(&user.key).await, "lifetime");
}
