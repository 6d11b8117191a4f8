//! A session's files and streamed cells over HTTP with the real sandbox: an uploaded CSV read
//! by a cell and a chart of the real matplotlib handed back as an image and as a file, the
//! failure cases of every file route, the audit trail of writes and deletes, and a cell's
//! output as Server-Sent Events.

use pyth_on_client::Client;
use pyth_on_types::{CellResponse, SessionFile, SessionFileList};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::egress::{egress_server, http_service};
use crate::session_support::{cell, open, send, text};
use crate::support::TestServer;

/// `PUT`s `content` to `path` of session `id`: the status and the JSON answer.
async fn put(client: &Client, id: Uuid, path: &str, content: &[u8]) -> (StatusCode, Value) {
    let url = format!("/api/v1/sessions/{id}/files/{path}");
    let response = client
        .request(Method::PUT, &url)
        .body(content.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `GET`s `path` of session `id`: the status and the raw body.
async fn get(client: &Client, id: Uuid, path: &str) -> (StatusCode, Vec<u8>) {
    let url = format!("/api/v1/sessions/{id}/files/{path}");
    let response = client.request(Method::GET, &url).send().await.unwrap();
    let status = response.status();
    (status, response.bytes().await.unwrap().to_vec())
}

fn code_of(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    value["code"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn an_uploaded_csv_becomes_a_chart_of_the_real_matplotlib_returned_as_png_and_as_a_file() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let body = json!({
        "packages": ["matplotlib"], "memoryMb": 512, "env": { "MPLCONFIGDIR": "/tmp" },
    });
    let session = open(&user.key, body).await;
    let csv = b"month,sales\n1,10\n2,30\n3,20\n";
    let (status, written) = put(&user.key, session.id, "data/sales.csv", csv).await;
    assert_eq!(status, StatusCode::OK, "{written}");
    let written: SessionFile = serde_json::from_value(written).unwrap();
    assert_eq!(
        (written.path.as_str(), written.size),
        ("data/sales.csv", csv.len() as u64)
    );
    let code = "import csv\nimport matplotlib.pyplot as plt\n\
                rows = list(csv.DictReader(open('data/sales.csv')))\n\
                plt.plot([int(r['month']) for r in rows], [int(r['sales']) for r in rows])\n\
                plt.savefig('chart.png')\nplt.show()\nlen(rows)";
    let answer = cell(&user.key, session.id, code, 60_000).await;
    assert!(answer.error.is_none(), "{answer:?}");
    assert_eq!(text(&answer), ["3"]);
    use base64::Engine as _;
    let shown = answer.results.iter().find(|r| r.mime == "image/png");
    let shown = base64::engine::general_purpose::STANDARD
        .decode(&shown.expect("a PNG result").data)
        .unwrap();
    assert_eq!(&shown[..8], b"\x89PNG\r\n\x1a\n");
    let (status, saved) = get(&user.key, session.id, "chart.png").await;
    assert_eq!(status, StatusCode::OK);
    assert!(saved.starts_with(b"\x89PNG\r\n\x1a\n") && saved.len() > 5_000);
    let path = format!("/api/v1/sessions/{}/files", session.id);
    let (status, listing) = send(&user.key, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let listing: SessionFileList = serde_json::from_value(listing).unwrap();
    let names = listing.entries.iter().map(|e| e.path.as_str());
    let names: Vec<_> = names.filter(|p| !p.starts_with('.')).collect(); // matplotlib's cache
    assert_eq!(names, ["chart.png", "data"], "{listing:?}");
}

#[tokio::test]
async fn file_routes_refuse_bad_paths_missing_files_big_uploads_and_other_users() {
    let server = TestServer::start_with(|s| s.files.max_input_file_bytes = 1000).await;
    let (user, other) = (server.user().await, server.user().await);
    let id = open(&user.key, json!({})).await.id;
    let (status, body) = put(&user.key, id, "%2E%2E%2Fescape.txt", b"x").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_path"))
    );
    let (status, _) = put(&user.key, id, "big.bin", &[0; 1001]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body) = get(&user.key, id, "missing.txt").await;
    assert_eq!(
        (status, code_of(&body).as_str()),
        (StatusCode::NOT_FOUND, "file_not_found")
    );
    assert_eq!(
        put(&user.key, id, "dir/a.txt", b"a").await.0,
        StatusCode::OK
    );
    let (status, body) = get(&user.key, id, "dir").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code_of(&body), "wrong_file_type");
    let listing = format!("/api/v1/sessions/{id}/files?dir=dir/a.txt");
    let (status, _) = send(&user.key, Method::GET, &listing, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for (method, path) in [
        (
            Method::GET,
            format!("/api/v1/sessions/{id}/files/dir/a.txt"),
        ),
        (Method::DELETE, format!("/api/v1/sessions/{id}/files/dir")),
        (Method::GET, format!("/api/v1/sessions/{id}/files")),
        (
            Method::GET,
            format!("/api/v1/sessions/{}/files/a", Uuid::now_v7()),
        ),
    ] {
        let (status, _) = send(&other.key, method, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        put(&other.key, id, "x", b"x").await.0,
        StatusCode::NOT_FOUND
    );
    let (status, content) = get(&user.key, id, "dir/a.txt").await;
    assert_eq!(
        (status, content.as_slice()),
        (StatusCode::OK, &b"a"[..]),
        "untouched"
    );
}

#[tokio::test]
async fn writes_and_deletes_are_audited_without_content_and_a_deleted_tree_is_gone() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let id = open(&user.key, json!({})).await.id;
    assert_eq!(
        put(&user.key, id, "notes/a.txt", b"t0p s3cret").await.0,
        StatusCode::OK
    );
    let path = format!("/api/v1/sessions/{id}/files/notes");
    let (status, _) = send(&user.key, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        get(&user.key, id, "notes/a.txt").await.0,
        StatusCode::NOT_FOUND
    );
    let gone = cell(&user.key, id, "import os\nos.path.exists('notes')", 5_000).await;
    assert_eq!(text(&gone), ["False"]);
    let page = user
        .key
        .audit(Some(10), None, Some("session.file"))
        .await
        .unwrap();
    let actions: Vec<&str> = page.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["session.file.delete", "session.file.put"]);
    let put_entry = &page.entries[1].details;
    assert_eq!(
        (put_entry["path"].as_str(), put_entry["size"].as_u64()),
        (Some("notes/a.txt"), Some(10))
    );
    let all = serde_json::to_string(&page.entries).unwrap();
    assert!(!all.contains("s3cret"), "{all}");
}

#[tokio::test]
async fn a_module_uploaded_into_a_python_session_can_be_imported() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let id = open(&user.key, json!({})).await.id;
    put(
        &user.key,
        id,
        "helpers.py",
        b"def double(x):\n    return 2 * x\n",
    )
    .await;
    let answer = cell(&user.key, id, "import helpers\nhelpers.double(21)", 5_000).await;
    assert_eq!(text(&answer), ["42"], "{answer:?}");
}

/// The events of a streamed cell: (name, data) in order.
async fn streamed(client: &Client, id: Uuid, code: &str) -> (StatusCode, Vec<(String, Value)>) {
    let response = client
        .request(Method::POST, &format!("/api/v1/sessions/{id}/execute"))
        .header("accept", "text/event-stream")
        .json(&json!({ "code": code, "timeoutMs": 10_000 }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let mut events: Vec<(String, Value)> = Vec::new();
    for block in text.split("\n\n") {
        let name = block.lines().find_map(|l| l.strip_prefix("event: "));
        let data = block.lines().find_map(|l| l.strip_prefix("data: "));
        let (Some(name), Some(data)) = (name, data) else {
            continue;
        };
        let data: Value = serde_json::from_str(data).unwrap();
        match events.last_mut() {
            // Output may come in any number of chunks: joined per stream.
            Some((last, seen)) if last == name && data["text"].is_string() => {
                let joined = format!(
                    "{}{}",
                    seen["text"].as_str().unwrap(),
                    data["text"].as_str().unwrap()
                );
                seen["text"] = Value::String(joined);
            }
            _ => events.push((name.to_string(), data)),
        }
    }
    (status, events)
}

#[tokio::test]
async fn a_streamed_cell_sends_its_output_as_it_comes_then_its_answer_and_keeps_the_state() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let id = open(&user.key, json!({})).await.id;
    let code = "import sys, time\nx = 41\nprint('one', flush=True)\ntime.sleep(0.2)\n\
                print('two', file=sys.stderr)\nx + 1";
    let (status, events) = streamed(&user.key, id, code).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["start", "stdout", "stderr", "result"], "{events:?}");
    assert_eq!(events[0].1["sessionId"], id.to_string());
    assert_eq!(events[1].1["text"], "one\n");
    assert_eq!(events[2].1["text"], "two\n");
    let answer: CellResponse = serde_json::from_value(events[3].1.clone()).unwrap();
    assert_eq!(
        (answer.stdout.as_str(), text(&answer)),
        ("one\n", vec!["42"])
    );
    let next = cell(&user.key, id, "x", 5_000).await;
    assert_eq!(text(&next), ["41"], "the streamed cell's state is kept");
    let missing = Uuid::now_v7();
    let (status, _) = streamed(&user.key, missing, "1").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "refused before any event");
}

/// The value of the sample `line` (name and labels) in a metrics page.
fn sample(page: &str, line: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_open_sessions_cells_by_outcome_and_ends_by_reason() {
    let server = TestServer::start_with(|s| s.metrics = true).await;
    let user = server.user().await;
    let id = open(&user.key, json!({})).await.id;
    let page = || async {
        reqwest::get(server.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = page().await;
    assert_eq!(
        sample(&before, "pyth_on_sessions_open{language=\"python\"}"),
        Some(1.0)
    );
    cell(&user.key, id, "1 + 1", 5_000).await;
    cell(&user.key, id, "import time\ntime.sleep(5)", 100).await;
    let path = format!("/api/v1/sessions/{id}");
    send(&user.key, Method::DELETE, &path, None).await;
    let after = page().await;
    assert_eq!(
        sample(&after, "pyth_on_sessions_open{language=\"python\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&after, "pyth_on_session_cells_total{outcome=\"completed\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, "pyth_on_session_cells_total{outcome=\"timed_out\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, "pyth_on_sessions_ended_total{reason=\"deleted\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&after, "pyth_on_sessions_busy"), Some(0.0));
}

/// The statuses of `n` session creations by `client`, sent at once.
async fn create_at_once(client: &Client, n: usize) -> Vec<u16> {
    let tries = (0..n).map(|_| send(client, Method::POST, "/api/v1/sessions", Some(json!({}))));
    let answers = futures::future::join_all(tries).await;
    let mut statuses: Vec<u16> = answers.iter().map(|(s, _)| s.as_u16()).collect();
    statuses.sort_unstable();
    statuses
}

#[tokio::test]
async fn twenty_creations_at_once_open_exactly_the_users_cap_and_the_nodes_cap_holds_too() {
    let server = TestServer::start_with(|s| {
        s.sessions.max_sessions_per_user = 3;
        s.sessions.max_sessions = 5;
    })
    .await;
    let (first, second) = (server.user().await, server.user().await);
    let (a, b) = tokio::join!(
        create_at_once(&first.key, 20),
        create_at_once(&second.key, 20)
    );
    let created = |s: &[u16]| s.iter().filter(|s| **s == 201).count();
    assert_eq!(created(&a) + created(&b), 5, "{a:?} {b:?}");
    assert!(created(&a) <= 3 && created(&b) <= 3, "{a:?} {b:?}");
    for status in a.iter().chain(&b).filter(|s| **s != 201) {
        assert!([429, 503].contains(status), "{a:?} {b:?}");
    }
}

#[tokio::test]
async fn of_ten_cells_sent_at_once_to_one_session_one_runs_and_the_others_are_409() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let id = open(&user.key, json!({})).await.id;
    cell(&user.key, id, "n = 0", 5_000).await;
    let path = format!("/api/v1/sessions/{id}/execute");
    let body = json!({ "code": "import time\nn += 1\ntime.sleep(0.5)", "timeoutMs": 5_000 });
    let tries = (0..10).map(|_| send(&user.key, Method::POST, &path, Some(body.clone())));
    let answers = futures::future::join_all(tries).await;
    let ran = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let busy = answers
        .iter()
        .filter(|(s, b)| *s == StatusCode::CONFLICT && b["code"] == "session_busy");
    assert_eq!((ran, busy.count()), (1, 9), "{answers:?}");
    assert_eq!(text(&cell(&user.key, id, "n", 5_000).await), ["1"]);
}

#[tokio::test]
async fn the_sessions_memory_budget_holds_when_users_ask_for_it_at_once() {
    let server = TestServer::start_with(|s| {
        s.sessions.max_sessions_per_user = 4;
        s.sessions.sessions_memory_mb = Some(1000);
    })
    .await;
    let (first, second) = (server.user().await, server.user().await);
    let big = json!({ "memoryMb": 300 });
    let tries = [&first, &second, &first, &second, &first, &second]
        .map(|u| send(&u.key, Method::POST, "/api/v1/sessions", Some(big.clone())));
    let answers = futures::future::join_all(tries).await;
    let opened = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(
        opened, 3,
        "3 × 300 MiB fit in 1000, a 4th does not: {answers:?}"
    );
    let refused = answers
        .iter()
        .find(|(s, _)| *s != StatusCode::CREATED)
        .unwrap();
    assert_eq!(refused.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.1["code"], "sessions_full");
    assert!(
        refused.1["error"].as_str().unwrap().contains("memoryMb"),
        "{}",
        refused.1
    );
    let small = open(&first.key, json!({ "memoryMb": 100 })).await;
    assert_eq!(
        small.memory_mb, 100,
        "what is left of the budget is still usable"
    );
}

#[tokio::test]
async fn a_session_with_network_reaches_the_exempt_service_in_every_cell_and_its_end_counts_it() {
    let (other, exempt) = (http_service(None).await, http_service(None).await);
    let server = egress_server(&[exempt], None).await;
    let user = server.user().await;
    let id = open(&user.key, serde_json::json!({ "network": true }))
        .await
        .id;
    let fetch = |port: u16| {
        format!("import urllib.request as u\ntry: print(u.urlopen('http://127.0.0.1:{port}/x', timeout=5).read().decode())\nexcept Exception as e: print(type(e).__name__, getattr(e, 'code', ''))")
    };
    for _ in 0..2 {
        let answer = cell(&user.key, id, &fetch(exempt.port()), 20_000).await;
        assert_eq!(
            answer.stdout, "hello from the exempt service\n",
            "{answer:?}"
        );
    }
    let refused = cell(&user.key, id, &fetch(other.port()), 20_000).await;
    assert_eq!(refused.stdout, "HTTPError 403\n");
    let path = format!("/api/v1/sessions/{id}");
    send(&user.key, reqwest::Method::DELETE, &path, None).await;
    let page = user
        .key
        .audit(Some(5), None, Some("session.end"))
        .await
        .unwrap();
    let egress = &page.entries[0].details["egress"];
    assert_eq!(
        (egress["requests"].as_u64(), egress["denied"].as_u64()),
        (Some(3), Some(1)),
        "{egress}"
    );
    let plain = TestServer::start().await;
    let (status, body) = send(
        &plain.user().await.key,
        reqwest::Method::POST,
        "/api/v1/sessions",
        Some(serde_json::json!({ "network": true })),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (400, Some("network_disabled"))
    );
}
