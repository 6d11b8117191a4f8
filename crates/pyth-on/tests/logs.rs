//! What the server's log says about a request: one span per request carrying its id, the
//! route template and the user, inherited by the request's lines; never a name the user put in
//! a path.
#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod common;

use common::{answering, free_addr, serve};

use std::path::Path;
use std::process::{Command, Stdio};

use pyth_on_client::Client;

/// Runs `pyth-on serve` with JSON logs into `log`, calls `drive` with a client, stops it and
/// returns the log's lines as JSON values.
async fn logged<F, Fut>(dir: &Path, drive: F) -> Vec<serde_json::Value>
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let addr = free_addr();
    let log = dir.join("server.log");
    let mut server = serve(&dir.join("data"), addr)
        .env("PYTH_ON_LOG_JSON", "true")
        .env("PYTH_ON_LOG", "info")
        .env("PYTH_ON_RUN_UID_START", "1975000000")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let client = answering(addr).await;
    drive(client).await;
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    server.wait().unwrap();
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[tokio::test]
async fn request_lines_carry_the_route_template_and_the_user_but_never_a_name_from_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut user_id = String::new();
    let lines = logged(dir.path(), |client| {
        let user_id = &mut user_id;
        async move {
            let auth = client
                .register("logs@example.com", "correct horse battery staple")
                .await
                .unwrap();
            *user_id = auth.user.id.to_string();
            let user = client.with_api_key(auth.api_key.unwrap());
            user.put_secret("CANARY_NAME_ONE", "value-x").await.unwrap();
            let _ = user.delete_secret("CANARY_NAME_TWO").await;
            let _ = client
                .request(reqwest::Method::GET, "/api/v1/nowhere/CANARY_NAME_THREE")
                .send()
                .await;
        }
    })
    .await;

    let raw = lines
        .iter()
        .map(serde_json::Value::to_string)
        .collect::<String>();
    assert!(!raw.contains("CANARY_NAME"), "a path name reached the log");
    let put = lines
        .iter()
        .find(|l| {
            l["span"]["http.route"] == "/api/v1/secrets/{name}"
                && l["span"]["http.method"] == "PUT"
                && l["fields"]["message"] == "request"
        })
        .unwrap_or_else(|| panic!("no request line for the PUT: {raw}"));
    assert_eq!(put["fields"]["http.status"], 201);
    assert_eq!(put["span"]["user.id"], user_id.as_str());
    assert!(put["span"]["request.id"]
        .as_str()
        .is_some_and(|id| id.len() >= 32));
    assert!(lines
        .iter()
        .any(|l| l["span"]["http.route"] == "unmatched" && l["fields"]["http.status"] == 404));
}

#[tokio::test]
async fn a_streamed_run_is_logged_when_its_stream_ends_or_its_client_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let lines = logged(dir.path(), |client| async move {
        let auth = client
            .register("stream@example.com", "correct horse battery staple")
            .await
            .unwrap();
        let user = client.with_api_key(auth.api_key.unwrap());
        let request = |code: &str| pyth_on_types::ExecuteRequest {
            language: Some("python".into()),
            code: code.into(),
            ..Default::default()
        };
        let mut whole = user
            .execute_stream(&request("import time\ntime.sleep(0.4)\nprint('done')"))
            .await
            .unwrap();
        while whole.next().await.is_some() {}
        let mut left = user
            .execute_stream(&request(
                "import time\nprint('up', flush=True)\ntime.sleep(30)",
            ))
            .await
            .unwrap();
        let _start = left.next().await;
        drop(left);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    })
    .await;

    let runs: Vec<_> = lines
        .iter()
        .filter(|l| l["span"]["http.route"] == "/api/v1/execute")
        .collect();
    let message = |l: &&serde_json::Value| l["fields"]["message"].as_str().unwrap_or("").to_owned();
    let whole = runs
        .iter()
        .find(|l| message(l) == "request")
        .unwrap_or_else(|| panic!("no line for the whole stream: {runs:?}"));
    assert!(
        whole["fields"]["duration_ms"].as_f64().unwrap() >= 400.0,
        "{whole}"
    );
    assert!(
        runs.iter()
            .any(|l| message(l) == "request abandoned by the client"),
        "no line for the stream its client left: {runs:?}"
    );
}

#[tokio::test]
async fn a_plain_text_log_written_to_a_file_has_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let log = dir.path().join("server.log");
    let mut server = serve(&dir.path().join("data"), addr)
        .env("PYTH_ON_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let client = answering(addr).await;
    client
        .register("plain@example.com", "correct horse battery staple")
        .await
        .unwrap();
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    server.wait().unwrap();

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains(" INFO ") && l.contains("request")),
        "no request line in the log: {text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log file: {text:?}"
    );
}
