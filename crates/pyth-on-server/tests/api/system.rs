//! Health, info, OpenAPI and the docs page.

use crate::support::{gauge, TestServer};

#[tokio::test]
async fn health_reports_the_database_and_the_sandbox() {
    let server = TestServer::start().await;
    let health = server.client.health().await.unwrap();
    assert_eq!(health.status, "ok");
    assert_eq!(health.checks["database"], "ok");
    assert_eq!(health.checks["sandbox"], "ok");
    assert_eq!(health.checks["keys"], "ok");
    assert_eq!(health.checks["packages"], "ok");
}

#[tokio::test]
async fn info_lists_languages_limits_and_features() {
    let server = TestServer::start_with(|s| s.max_timeout_ms = 30_000).await;
    let info = server.client.info().await.unwrap();
    assert_eq!(info.name, "Pyth-On API");
    let python = info
        .languages
        .iter()
        .find(|l| l.name == "python")
        .expect("python");
    assert!(python.version.starts_with('3'), "{python:?}");
    assert!(python.aliases.contains(&"py".to_string()));
    let js = info
        .languages
        .iter()
        .find(|l| l.name == "javascript")
        .expect("javascript");
    assert!(js.aliases.contains(&"node".to_string()));
    assert_eq!(info.limits.max_timeout_ms, 30_000);
    assert_eq!(info.limits.max_code_bytes, 524_288);
    assert!(!info.features.generate);
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let server = TestServer::start().await;
    let doc: serde_json::Value = reqwest::get(server.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    // Exactly the documented routes: nothing undocumented slips into the list either.
    assert_eq!(paths.len(), 44, "{:?}", paths.keys().collect::<Vec<_>>());
    for path in [
        "/api/register",
        "/api/login",
        "/api/verify",
        "/api/refresh",
        "/api/logout",
        "/api/health",
        "/api/health/live",
        "/api/info",
        "/api/v1/execute",
        "/api/v1/executions/{id}/cancel",
        "/api/v1/secrets",
        "/api/v1/secrets/{name}",
        "/api/v1/keys",
        "/api/v1/keys/{id}",
        "/api/v1/audit",
        "/api/v1/audit/verify",
        "/api/v1/egress/allow",
        "/api/v1/me",
        "/api/v1/generate",
        "/api/v1/packages",
        "/api/v1/packages/{name}",
        "/api/v1/zk/encrypt",
        "/api/v1/zk/code",
        "/api/v1/zk/code/{name}",
        "/api/v1/zk/execute/{name}",
        "/api/v1/sessions",
        "/api/v1/sessions/{id}",
        "/api/v1/sessions/{id}/execute",
        "/api/v1/sessions/{id}/interrupt",
        "/api/v1/sessions/{id}/files",
        "/api/v1/sessions/{id}/files/{path}",
        "/api/v1/me/settings",
        "/api/v1/me/password",
        "/api/v1/me/sign-ins",
        "/api/v1/me/sign-ins/{id}",
        "/api/v1/admin/users",
        "/api/v1/admin/users/{id}",
        "/api/v1/admin/users/{id}/disable",
        "/api/v1/admin/users/{id}/enable",
        "/api/v1/admin/users/{id}/role",
        "/api/v1/admin/users/{id}/quota",
        "/api/v1/admin/invitations",
        "/api/v1/admin/invitations/{id}",
        "/api/v1/usage",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    for schema in [
        "ExecuteRequest",
        "ExecuteResponse",
        "ErrorBody",
        "AuthResponse",
        "AuditEntry",
        "EgressUsage",
        "EgressAllowList",
        "SessionFile",
        "SessionFileList",
        "CellStartEvent",
        "InterruptResponse",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema} missing"
        );
    }
    let response = &doc["components"]["schemas"]["ExecuteResponse"]["properties"];
    assert!(response.get("egress").is_some(), "{response}");
    // The reference page is rendered from the same document: every path is on it, with no
    // script, under the console's CSP, its stylesheet from this server.
    for url in ["/docs", "/docs/"] {
        let docs = reqwest::get(server.url(url)).await.unwrap();
        assert_eq!(docs.status(), 200, "{url}");
        let csp = docs.headers()["content-security-policy"].to_str().unwrap();
        assert_eq!(csp, pyth_on_server::console::CONTENT_SECURITY_POLICY);
        let html = docs.text().await.unwrap();
        assert!(html.starts_with("<!doctype html>") && html.contains("<html lang=\"en\">"));
        assert!(html.contains("<main id=\"main\">") && html.contains("<h1>"));
        assert!(
            !html.contains("<script") && !html.contains("https://"),
            "{html}"
        );
        for path in paths.keys() {
            let shown = path.replace('&', "&amp;");
            assert!(
                html.contains(&format!("<code>{shown}</code></h3>")),
                "{path} not on {url}"
            );
        }
        assert!(html.contains("<h3 id=\"schema-interruptresponse\">InterruptResponse</h3>"));
    }
    let css = reqwest::get(server.url("/docs/reference.css"))
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_sane_ones_are_echoed() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let echoed = http
        .get(server.url("/api/health"))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-123");
    let replaced = http
        .get(server.url("/api/health"))
        .header("x-request-id", "bad id!")
        .send()
        .await
        .unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "bad id!");
    let generated = http.get(server.url("/api/info")).send().await.unwrap();
    assert!(!generated.headers()["x-request-id"].is_empty());
}

#[tokio::test]
async fn a_restart_reuses_the_database_and_keys() {
    let server = TestServer::start().await;
    let user = server.user().await;
    user.key.put_secret("KEPT", "kept-value").await.unwrap();
    let key = user.auth.api_key.clone().unwrap();
    let token = user.auth.token.clone();
    let dir = server.stop_keeping_dir().await;
    let path = dir.path().to_path_buf();
    let again = TestServer::start_settings(dir, crate::support::settings(&path)).await;
    let run = again
        .client
        .with_api_key(&key)
        .execute(&pyth_on_types::ExecuteRequest {
            code: "import os; print(os.environ['KEPT'])".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.output, "***\n");
    // Tokens signed before the restart still verify: the signing key was reused.
    again.client.verify(&token).await.unwrap();
    use std::os::unix::fs::PermissionsExt;
    for file in ["keys/jwt-signing.key", "pyth-on.db"] {
        let mode = std::fs::metadata(path.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{file} is readable by others: {mode:o}");
    }
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let slow = tokio::spawn(async move {
        user.key
            .execute(&pyth_on_types::ExecuteRequest {
                code: "import time; time.sleep(0.8); print('finished')".into(),
                ..Default::default()
            })
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.stop().await.expect("clean shutdown");
    assert_eq!(slow.await.unwrap().unwrap().output, "finished\n");
}

#[tokio::test]
async fn metrics_are_off_by_default() {
    let server = TestServer::start().await;
    let response = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn metrics_count_the_network_namespaces_that_runs_left_untouched_and_were_reused() {
    let server = TestServer::start_with(|s| s.metrics = true).await;
    let user = server.user().await;
    server.netns_made().await;
    let run = user
        .key
        .execute(&pyth_on_types::ExecuteRequest {
            code: "print('no network')".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.output, "no network\n");
    // Given back, then checked after a second's quarantine by the pool's checker thread, at
    // nice 19: under CI's load (every test binary at once) that can take seconds.
    let text = server
        .metrics_until(1200, |t| gauge(t, "pyth_on_netns_reused_total") >= 1.0)
        .await;
    assert!(gauge(&text, "pyth_on_netns_reused_total") >= 1.0, "{text}");
    assert!(gauge(&text, "pyth_on_netns_created_total") >= 1.0, "{text}");
    assert_eq!(gauge(&text, "pyth_on_netns_destroyed_total"), 0.0, "{text}");
    assert_eq!(gauge(&text, "pyth_on_netns_failed_total"), 0.0, "{text}");
}

#[tokio::test]
async fn metrics_show_the_warm_pool_and_runs() {
    let server = TestServer::start_with(|s| {
        s.metrics = true;
        s.pool_size = Some(2);
    })
    .await;
    let user = server.user().await;
    // The pool fills in the background.
    let full = "pyth_on_pool_ready{language=\"python\"} 2";
    let text = server.metrics_until(100, |t| t.contains(full)).await;
    assert!(
        text.contains(full),
        "the python pool never reached 2 ready runners"
    );
    for _ in 0..3 {
        let run = user
            .key
            .execute(&pyth_on_types::ExecuteRequest {
                code: "print('warm')".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(run.output, "warm\n");
    }
    // Refills run in the background at a lower priority: wait for one to show.
    let text = server
        .metrics_until(200, |t| gauge(t, "pyth_on_pool_created_total") >= 3.0)
        .await;
    assert!(
        text.contains("pyth_on_runs_total{outcome=\"completed\"} 3"),
        "{text}"
    );
    let created = gauge(&text, "pyth_on_pool_created_total");
    assert!(created >= 3.0, "the pool never refilled after use: {text}");
    // Each of the three runs either took a warm runner or found none ready.
    let (taken, missed) = (
        gauge(&text, "pyth_on_pool_taken_total"),
        gauge(&text, "pyth_on_pool_missed_total"),
    );
    assert_eq!(taken + missed, 3.0, "{text}");
    assert!(taken >= 1.0, "no run took a warm runner: {text}");
    assert!(text.contains("# TYPE pyth_on_http_responses_total counter"));
}

#[tokio::test]
async fn a_warm_runner_never_carries_one_users_secrets_into_another_users_run() {
    // With the fork server (the default) and without it (every interpreter started per run).
    for fork_server in [true, false] {
        let server = TestServer::start_with(|s| {
            s.pool_size = Some(1);
            s.fork_server = fork_server;
        })
        .await;
        secrets_stay_with_their_owner(&server).await;
    }
}

async fn secrets_stay_with_their_owner(server: &TestServer) {
    let alice = server.user().await;
    let bob = server.user().await;
    alice
        .key
        .put_secret("ALICE_ONLY", "alice-secret-value")
        .await
        .unwrap();
    let bob_code = "import os; print('ALICE_ONLY' in os.environ, \
                    open('/proc/self/environ','rb').read().count(b'alice'))";
    for _ in 0..3 {
        let a = alice
            .key
            .execute(&pyth_on_types::ExecuteRequest {
                code: "import os; print('ALICE_ONLY' in os.environ)".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(a.output, "True\n");
        let b = bob
            .key
            .execute(&pyth_on_types::ExecuteRequest {
                code: bob_code.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(b.output, "False 0\n", "{}", b.error);
    }
}

/// `GET path` on `server`: status and body.
async fn get_json(server: &TestServer, path: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::get(server.url(path)).await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn health_says_503_naming_the_check_when_the_node_cannot_serve() {
    // A sandbox that cannot run a program (the runner is not a runner).
    let server = TestServer::start_with(|s| s.runner = Some("/bin/true".into())).await;
    let (status, body) = get_json(&server, "/api/health").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (503, Some("degraded")),
        "{body}"
    );
    assert_ne!(body["checks"]["sandbox"], "ok", "{body}");
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    let (status, live) = get_json(&server, "/api/health/live").await;
    assert_eq!(
        (status, live["status"].as_str()),
        (200, Some("ok")),
        "liveness: {live}"
    );
    // A key directory that lost its keys, a package directory that is gone.
    let server = TestServer::start().await;
    assert_eq!(get_json(&server, "/api/health").await.0, 200);
    std::fs::remove_dir_all(server.dir.path().join("envs")).unwrap();
    for entry in std::fs::read_dir(server.dir.path().join("keys")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let (status, body) = get_json(&server, "/api/health").await;
    assert_eq!(status, 503, "{body}");
    assert_ne!(body["checks"]["keys"], "ok", "{body}");
    assert_ne!(body["checks"]["packages"], "ok", "{body}");
    assert_eq!(body["checks"]["sandbox"], "ok", "{body}");
}
