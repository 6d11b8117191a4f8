//! Sessions over HTTP with the real sandbox: state kept between cells, cell timeouts, the
//! end of a session (exit, delete, idle) leaving no process behind, owners' isolation, the
//! per-user cap, secrets in the environment and out of the answers, and the audit trail.

use std::time::{Duration, Instant};

use pyth_on_types::SessionList;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::session_support::{
    cell, cgroups_of, end_reason, open, processes_alive, send, server_with_uids, text, within,
};
use crate::support::{TestServer, TestUser};

#[tokio::test]
async fn state_is_kept_between_cells_in_python_and_in_javascript() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let py = open(&user.key, json!({})).await;
    assert_eq!(
        (py.language.as_str(), py.status.as_str()),
        ("python", "idle")
    );
    cell(&user.key, py.id, "x = 1", 5000).await;
    let answer = cell(&user.key, py.id, "print('hi')\nx += 1; x", 5000).await;
    assert_eq!(text(&answer), ["2"]);
    assert_eq!(answer.stdout, "hi\n");
    let js = open(&user.key, json!({ "language": "js" })).await;
    assert_eq!(js.language, "javascript");
    cell(&user.key, js.id, "let a = 2", 5000).await;
    assert_eq!(text(&cell(&user.key, js.id, "a * 21", 5000).await), ["42"]);
    let (_, list) = send(&user.key, Method::GET, "/api/v1/sessions", None).await;
    let list: SessionList = serde_json::from_value(list).unwrap();
    let ids: Vec<_> = list.sessions.iter().map(|s| s.id).collect();
    assert_eq!(ids, [py.id, js.id]);
}

#[tokio::test]
async fn a_cell_past_its_timeout_is_interrupted_and_the_session_goes_on() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let s = open(&user.key, json!({})).await;
    cell(&user.key, s.id, "y = 7", 5000).await;
    let slow = cell(&user.key, s.id, "import time\ntime.sleep(30)", 500).await;
    assert!(slow.timed_out, "{slow:?}");
    assert!(!slow.session_ended);
    assert_eq!(text(&cell(&user.key, s.id, "y", 5000).await), ["7"]);
}

#[tokio::test]
async fn exit_ends_the_session_and_its_id_is_unknown_afterwards() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let s = open(&user.key, json!({})).await;
    let bye = cell(&user.key, s.id, "exit(3)", 5000).await;
    assert!(bye.session_ended, "{bye:?}");
    let path = format!("/api/v1/sessions/{}/execute", s.id);
    let (status, body) = send(&user.key, Method::POST, &path, Some(json!({ "code": "1" }))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let ended = user
        .key
        .audit(Some(10), None, Some("session.end"))
        .await
        .unwrap();
    assert_eq!(ended.entries[0].details["reason"], "exited");
}

#[tokio::test]
async fn another_user_can_neither_see_nor_run_in_nor_delete_a_session() {
    let server = TestServer::start().await;
    let (owner, other): (TestUser, TestUser) = (server.user().await, server.user().await);
    let s = open(&owner.key, json!({})).await;
    let path = format!("/api/v1/sessions/{}", s.id);
    let run = format!("{path}/execute");
    assert_eq!(
        send(&other.key, Method::GET, &path, None).await.0,
        StatusCode::NOT_FOUND
    );
    let ran = send(&other.key, Method::POST, &run, Some(json!({ "code": "1" }))).await;
    assert_eq!(ran.0, StatusCode::NOT_FOUND);
    assert_eq!(
        send(&other.key, Method::DELETE, &path, None).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = send(&other.key, Method::GET, "/api/v1/sessions", None).await;
    assert_eq!(list["sessions"], json!([]));
    assert_eq!(
        send(&owner.key, Method::GET, &path, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        send(&owner.key, Method::DELETE, &path, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&owner.key, Method::GET, &path, None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_user_past_their_session_cap_is_refused_with_429() {
    let server = TestServer::start_with(|s| s.sessions.max_sessions_per_user = 1).await;
    let (user, other) = (server.user().await, server.user().await);
    open(&user.key, json!({})).await;
    let (status, body) = send(&user.key, Method::POST, "/api/v1/sessions", Some(json!({}))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "too_many_sessions");
    open(&other.key, json!({})).await;
}

/// A server on `uids`, a user, and a session of theirs that started a child process (alive).
async fn session_with_a_child(
    uids: &std::ops::Range<u32>,
) -> (TestServer, TestUser, pyth_on_types::SessionInfo) {
    let server = server_with_uids(uids).await;
    let user = server.user().await;
    let s = open(&user.key, json!({})).await;
    let spawn = "import subprocess\nsubprocess.Popen(['sleep', '60'])";
    cell(&user.key, s.id, spawn, 5000).await;
    assert!(processes_alive(uids));
    (server, user, s)
}

/// The uids of the delete test's server.
const DELETE_UIDS: std::ops::Range<u32> = 1_650_100_000..1_650_100_004;

#[tokio::test]
async fn deleting_a_session_leaves_no_process_of_its_uid() {
    let (_server, user, s) = session_with_a_child(&DELETE_UIDS).await;
    let path = format!("/api/v1/sessions/{}", s.id);
    assert_eq!(
        send(&user.key, Method::DELETE, &path, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert!(within(Duration::from_secs(5), || !processes_alive(&DELETE_UIDS)).await);
}

/// The uids of the idle test's server.
const IDLE_UIDS: std::ops::Range<u32> = 1_650_200_000..1_650_200_004;

#[tokio::test]
async fn an_idle_session_ends_after_its_idle_timeout_leaving_no_process_and_its_cgroup_empty() {
    let server = server_with_uids(&IDLE_UIDS).await;
    let user = server.user().await;
    let s = open(&user.key, json!({ "idleTimeoutSec": 1 })).await;
    assert!(processes_alive(&IDLE_UIDS));
    let cgroups = cgroups_of(&IDLE_UIDS);
    assert!(!cgroups.is_empty(), "the session's cgroup was not found");
    let path = format!("/api/v1/sessions/{}", s.id);
    let gone = within(Duration::from_secs(5), || !processes_alive(&IDLE_UIDS)).await;
    assert!(gone, "the idle session's processes are still there");
    // A kept group (`<server pid>-k<tag>-<n>`, leased with the uid) stays, empty, for the
    // next sandbox; any other is removed.
    let kept = |c: &std::path::Path| {
        c.file_name()
            .is_some_and(|n| n.to_string_lossy().contains("-k"))
    };
    let procs = |c: &std::path::Path| std::fs::read_to_string(c.join("cgroup.procs"));
    let emptied = within(Duration::from_secs(5), || {
        cgroups.iter().all(|c| match procs(c) {
            Ok(p) => kept(c) && p.trim().is_empty(),
            Err(_) => !c.exists(),
        })
    })
    .await;
    assert!(
        emptied,
        "the idle session's cgroups still hold processes, or are not kept ones: {cgroups:?}"
    );
    assert_eq!(
        send(&user.key, Method::GET, &path, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(end_reason(&user.key).await, "idle");
}

#[tokio::test]
async fn a_secret_is_in_the_environment_redacted_from_the_answer_and_the_trail_is_audited() {
    let server = TestServer::start().await;
    let user = server.user().await;
    user.key
        .put_secret("API_TOKEN", "s3cr3t-value")
        .await
        .unwrap();
    let s = open(&user.key, json!({ "env": { "GREETING": "hello" } })).await;
    let code = "import os\nprint(os.environ['API_TOKEN'], os.environ['GREETING'])\nlen(os.environ['API_TOKEN'])";
    let answer = cell(&user.key, s.id, code, 5000).await;
    assert_eq!(answer.stdout, "*** hello\n");
    assert_eq!(text(&answer), ["12"]);
    let path = format!("/api/v1/sessions/{}", s.id);
    assert_eq!(
        send(&user.key, Method::DELETE, &path, None).await.0,
        StatusCode::NO_CONTENT
    );
    let page = user
        .key
        .audit(Some(10), None, Some("session."))
        .await
        .unwrap();
    let actions: Vec<&str> = page.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["session.end", "session.execute", "session.create"]
    );
    let digest = &page.entries[1].details["codeSha256"];
    assert_eq!(digest.as_str().map(str::len), Some(64));
    let all = serde_json::to_string(&page.entries).unwrap();
    assert!(
        !all.contains("s3cr3t") && !all.contains("os.environ"),
        "{all}"
    );
    assert_eq!(page.entries[0].details["reason"], "deleted");
}

#[tokio::test]
async fn a_second_cell_while_one_runs_is_409_session_busy() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let s = open(&user.key, json!({})).await;
    let (client, id) = (user.key.clone(), s.id);
    let slow = tokio::spawn(async move {
        cell(&client, id, "import time\ntime.sleep(1.5)\n'done'", 5000).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let path = format!("/api/v1/sessions/{id}");
    let (_, info) = send(&user.key, Method::GET, &path, None).await;
    assert_eq!(info["status"], "busy");
    let run = format!("{path}/execute");
    let (status, body) = send(&user.key, Method::POST, &run, Some(json!({ "code": "1" }))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("session_busy"))
    );
    assert_eq!(text(&slow.await.unwrap()), ["'done'"]);
}

#[tokio::test]
async fn a_node_holding_its_maximum_of_sessions_answers_503_sessions_full_with_retry_after() {
    let server = TestServer::start_with(|s| {
        s.sessions.max_sessions = 1;
        s.sessions.max_sessions_per_user = 1;
    })
    .await;
    let (user, other) = (server.user().await, server.user().await);
    open(&user.key, json!({})).await;
    let response = other
        .key
        .request(Method::POST, "/api/v1/sessions")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "sessions_full");
}

/// The uids of the shutdown test's server.
const SHUTDOWN_UIDS: std::ops::Range<u32> = 1_650_300_000..1_650_300_004;

#[tokio::test]
async fn stopping_the_server_ends_its_sessions_and_leaves_no_process() {
    let (server, _user, _session) = session_with_a_child(&SHUTDOWN_UIDS).await;
    server.stop().await.unwrap();
    assert!(within(Duration::from_secs(5), || !processes_alive(&SHUTDOWN_UIDS)).await);
}

#[tokio::test]
async fn a_session_in_use_still_ends_at_the_end_of_its_lifetime() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let s = open(
        &user.key,
        json!({ "maxLifetimeSec": 1, "idleTimeoutSec": 60 }),
    )
    .await;
    let run = format!("/api/v1/sessions/{}/execute", s.id);
    let started = Instant::now();
    loop {
        let (status, body) =
            send(&user.key, Method::POST, &run, Some(json!({ "code": "1" }))).await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the session outlived its lifetime"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(end_reason(&user.key).await, "lifetime");
}
