//! What the session tests share: opening a session, sending a request, running a cell, and
//! watching for the processes of a session's uids.

use std::time::{Duration, Instant};

use pyth_on_client::Client;
use pyth_on_types::{CellResponse, SessionInfo};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::TestServer;

/// Opens a session (`body` as the request) and returns it.
pub async fn open(client: &Client, body: Value) -> SessionInfo {
    let response = send(client, Method::POST, "/api/v1/sessions", Some(body)).await;
    assert_eq!(response.0, StatusCode::CREATED, "{:?}", response.1);
    serde_json::from_value(response.1).unwrap()
}

/// Sends a request; the status and the JSON body (`null` when empty).
pub async fn send(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Runs a cell, expecting an answer.
pub async fn cell(client: &Client, id: uuid::Uuid, code: &str, timeout_ms: u64) -> CellResponse {
    let path = format!("/api/v1/sessions/{id}/execute");
    let body = json!({ "code": code, "timeoutMs": timeout_ms });
    let (status, body) = send(client, Method::POST, &path, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    serde_json::from_value(body).unwrap()
}

pub fn text(answer: &CellResponse) -> Vec<&str> {
    let plain = answer.results.iter().filter(|r| r.mime == "text/plain");
    plain.map(|r| r.data.as_str()).collect()
}

/// Whether any process runs under a uid in `uids`.
pub fn processes_alive(uids: &std::ops::Range<u32>) -> bool {
    let pids = std::fs::read_dir("/proc").unwrap().flatten();
    pids.filter_map(|e| uid_of(&e.file_name().to_string_lossy()))
        .any(|uid| uids.contains(&uid))
}

/// The uid of host process `pid`.
fn uid_of(pid: &str) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uid.split_whitespace().next()?.parse().ok()
}

/// The cgroups (anywhere in the memory hierarchy, v1 or v2: runners nest theirs below their
/// own) that hold a process running under a uid in `uids`.
pub fn cgroups_of(uids: &std::ops::Range<u32>) -> Vec<std::path::PathBuf> {
    let root = ["/sys/fs/cgroup/memory", "/sys/fs/cgroup"]
        .into_iter()
        .find(|r| std::path::Path::new(r).join("cgroup.procs").exists());
    let mut found = Vec::new();
    let mut todo: Vec<(std::path::PathBuf, usize)> =
        root.map(|r| (r.into(), 0)).into_iter().collect();
    while let Some((dir, depth)) = todo.pop() {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        if procs
            .lines()
            .any(|pid| uid_of(pid).is_some_and(|u| uids.contains(&u)))
        {
            found.push(dir.clone());
        }
        let entries = std::fs::read_dir(&dir).into_iter().flatten().flatten();
        for child in entries.map(|e| e.path()).filter(|p| p.is_dir()) {
            if depth < 8 {
                todo.push((child, depth + 1));
            }
        }
    }
    found
}

/// Waits up to `limit` for `done`.
pub async fn within(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// A server whose sessions run under uids no other test uses.
pub async fn server_with_uids(uids: &std::ops::Range<u32>) -> TestServer {
    let (start, count) = (uids.start, uids.end - uids.start);
    TestServer::start_with(|s| {
        s.runs.run_uid_start = start;
        s.runs.run_uid_count = count;
    })
    .await
}

/// The `reason` of the caller's latest `session.end` entry, waiting up to 5 s for it: a
/// session leaves the registry (its id answers 404) a moment before its end is on the record.
pub async fn end_reason(client: &Client) -> String {
    let start = Instant::now();
    loop {
        let page = client
            .audit(Some(1), None, Some("session.end"))
            .await
            .unwrap();
        if let Some(entry) = page.entries.first() {
            return entry.details["reason"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no session.end entry"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
