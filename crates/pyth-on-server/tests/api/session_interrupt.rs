//! `POST /api/v1/sessions/{id}/interrupt` with the real sandbox: a busy cell in Python and in
//! JavaScript is stopped and the session keeps its variables; an idle session answers
//! `interrupted: false`; unknown and other users' sessions are 404; the interrupt is audited.

use std::time::{Duration, Instant};

use pyth_on_client::Client;
use pyth_on_types::{CellResponse, InterruptResponse};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::session_support::{cell, open, send, text};
use crate::support::TestServer;

/// Runs `code` (a 30 s limit) and interrupts it `after` it was sent; the cell's answer, the
/// interrupt's answer and how long the cell took.
async fn interrupted(
    client: &Client,
    id: Uuid,
    code: &str,
    after: Duration,
) -> (CellResponse, InterruptResponse, Duration) {
    let started = Instant::now();
    let (answer, stopped) = tokio::join!(cell(client, id, code, 30_000), async {
        tokio::time::sleep(after).await;
        client.interrupt_session(id).await.unwrap()
    });
    (answer, stopped, started.elapsed())
}

#[tokio::test]
async fn an_interrupted_python_loop_ends_with_keyboard_interrupt_and_the_session_keeps_its_variables(
) {
    let server = TestServer::start().await;
    let user = server.user().await;
    let s = open(&user.key, json!({})).await;
    cell(&user.key, s.id, "kept = 'yes'", 5000).await;
    let code = "print('looping', flush=True)\nwhile True:\n    pass";
    let (answer, stopped, took) =
        interrupted(&user.key, s.id, code, Duration::from_millis(800)).await;
    assert!(stopped.interrupted);
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        answer.interrupted && !answer.timed_out && !answer.session_ended,
        "{answer:?}"
    );
    assert_eq!(answer.stdout, "looping\n");
    assert_eq!(answer.error.unwrap().name, "KeyboardInterrupt");
    assert_eq!(text(&cell(&user.key, s.id, "kept", 5000).await), ["'yes'"]);
    let page = user
        .key
        .audit(Some(10), None, Some("session.interrupt"))
        .await;
    let page = page.unwrap();
    assert_eq!(page.entries.len(), 1);
    let entry = &page.entries[0];
    assert_eq!(entry.resource.as_deref(), Some(s.id.to_string().as_str()));
    assert_eq!(entry.outcome, "success");
}

#[tokio::test]
async fn an_interrupted_javascript_loop_ends_with_an_error_and_the_session_keeps_its_bindings() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let s = open(&user.key, json!({ "language": "javascript" })).await;
    cell(&user.key, s.id, "let kept = 41", 5000).await;
    let (answer, stopped, took) = interrupted(
        &user.key,
        s.id,
        "while (true) {}",
        Duration::from_millis(800),
    )
    .await;
    assert!(stopped.interrupted);
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(answer.interrupted && !answer.session_ended, "{answer:?}");
    assert!(answer.error.is_some(), "{answer:?}");
    assert_eq!(text(&cell(&user.key, s.id, "kept + 1", 5000).await), ["42"]);
}

#[tokio::test]
async fn a_cell_that_catches_the_interrupt_ends_the_session_after_the_grace() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let s = open(&user.key, json!({})).await;
    let code = "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        print('caught', flush=True)";
    let (answer, stopped, took) =
        interrupted(&user.key, s.id, code, Duration::from_millis(800)).await;
    assert!(stopped.interrupted);
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(answer.interrupted && answer.session_ended, "{answer:?}");
    assert_eq!(answer.stdout, "caught\n");
    let path = format!("/api/v1/sessions/{}", s.id);
    assert_eq!(
        send(&user.key, Method::GET, &path, None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_idle_session_answers_interrupted_false_and_its_next_cell_runs_untouched() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let s = open(&user.key, json!({})).await;
    let stopped = user.key.interrupt_session(s.id).await.unwrap();
    assert!(!stopped.interrupted);
    let answer = cell(
        &user.key,
        s.id,
        "import time\ntime.sleep(0.3)\n'done'",
        5000,
    )
    .await;
    assert!(!answer.interrupted && answer.error.is_none(), "{answer:?}");
    assert_eq!(text(&answer), ["'done'"]);
    let page = user.key.audit(Some(10), None, Some("session.interrupt"));
    assert!(page.await.unwrap().entries.is_empty());
}

#[tokio::test]
async fn interrupting_an_unknown_or_another_users_session_is_404() {
    let server = TestServer::start().await;
    let (owner, other) = (server.user().await, server.user().await);
    let s = open(&owner.key, json!({})).await;
    for (client, path) in [
        (&other.key, format!("/api/v1/sessions/{}/interrupt", s.id)),
        (
            &owner.key,
            format!("/api/v1/sessions/{}/interrupt", Uuid::now_v7()),
        ),
        (
            &owner.key,
            "/api/v1/sessions/not-an-id/interrupt".to_string(),
        ),
    ] {
        let (status, body) = send(client, Method::POST, &path, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{path}"
        );
    }
    let unauthenticated = server.client.request(
        Method::POST,
        &format!("/api/v1/sessions/{}/interrupt", s.id),
    );
    assert_eq!(
        unauthenticated.send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}
