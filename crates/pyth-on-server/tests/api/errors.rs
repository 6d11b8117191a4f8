//! Bad input of every kind gets the `Error` shape and a 4xx, and changes nothing.

use reqwest::{Method, StatusCode};

use crate::support::TestServer;

async fn error_of(response: reqwest::Response) -> (StatusCode, pyth_on_types::ErrorBody) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body: pyth_on_types::ErrorBody =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not the Error shape: {text}"));
    (status, body)
}

#[tokio::test]
async fn malformed_json_wrong_content_types_and_unknown_fields_are_400() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let cases: Vec<(reqwest::RequestBuilder, &str)> = vec![
        (
            user.key
                .request(Method::POST, "/api/v1/execute")
                .header("content-type", "application/json")
                .body("{not json"),
            "invalid_json",
        ),
        (
            user.key
                .request(Method::POST, "/api/v1/execute")
                .header("content-type", "text/plain")
                .body("print(1)"),
            "invalid_content_type",
        ),
        (
            user.key
                .request(Method::POST, "/api/v1/execute")
                .json(&serde_json::json!({"code": "print(1)", "bogus": 1})),
            "invalid_request",
        ),
        (
            user.key
                .request(Method::POST, "/api/v1/execute")
                .json(&serde_json::json!({"code": 5})),
            "invalid_request",
        ),
        (
            user.key
                .request(Method::POST, "/api/v1/execute")
                .header("content-type", "application/json")
                .body(vec![b'"', 0xff, 0xfe, b'"']),
            "invalid_json",
        ),
        (
            server
                .client
                .request(Method::POST, "/api/register")
                .json(&serde_json::json!({"email": "a@b.io"})),
            "invalid_request",
        ),
    ];
    for (request, code) in cases {
        let (status, body) = error_of(request.send().await.unwrap()).await;
        assert_eq!(status, 400, "{body:?}");
        assert_eq!(body.code, code, "{body:?}");
    }
}

#[tokio::test]
async fn wrong_types_are_reported_without_echoing_the_value() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let response = user
        .key
        .request(Method::POST, "/api/v1/execute")
        .json(&serde_json::json!({"code": "print(1)", "timeoutMs": "hunter2-secret"}))
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(response).await;
    assert_eq!(status, 400);
    assert!(body.error.contains("timeoutMs"), "{body:?}");
    assert!(!body.error.contains("hunter2"), "{body:?}");
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let server = TestServer::start_with(|s| {
        s.max_body_bytes = 4096;
        s.max_code_bytes = 2048;
        s.max_prompt_bytes = 2048;
    })
    .await;
    let user = server.user().await;
    let big = serde_json::json!({"code": "x".repeat(8192)});
    let (status, body) = error_of(
        user.key
            .request(Method::POST, "/api/v1/execute")
            .json(&big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body.code, "payload_too_large");
    let code_too_big = serde_json::json!({"code": "#".repeat(3000)});
    let (status, _) = error_of(
        user.key
            .request(Method::POST, "/api/v1/execute")
            .json(&code_too_big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_the_error_shape() {
    let server = TestServer::start().await;
    let (status, body) = error_of(reqwest::get(server.url("/api/nope")).await.unwrap()).await;
    assert_eq!((status.as_u16(), body.code.as_str()), (404, "not_found"));
    let (status, body) = error_of(
        reqwest::Client::new()
            .delete(server.url("/api/health"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 405);
    assert_eq!(body.code, "method_not_allowed");
}

#[tokio::test]
async fn a_refused_request_changes_nothing() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let before = user
        .key
        .audit(Some(200), None, None)
        .await
        .unwrap()
        .entries
        .len();
    let _ = user.key.put_secret("PATH", "/evil").await;
    let _ = user
        .key
        .request(Method::PUT, "/api/v1/secrets/OK_NAME")
        .json(&serde_json::json!({"value": "v", "extra": true}))
        .send()
        .await
        .unwrap();
    assert!(user.key.list_secrets().await.unwrap().secrets.is_empty());
    assert_eq!(
        user.key
            .audit(Some(200), None, None)
            .await
            .unwrap()
            .entries
            .len(),
        before
    );
}

#[test]
fn bad_settings_are_refused_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = crate::support::settings(dir.path());
    s.default_timeout_ms = 120_000;
    let err = s.validate().unwrap_err().to_string();
    assert!(err.contains("--default-timeout-ms"), "{err}");
    let mut s = crate::support::settings(dir.path());
    s.access_token_ttl_secs = 3600;
    assert!(s
        .validate()
        .unwrap_err()
        .to_string()
        .contains("--access-token-ttl-secs"));
    let mut s = crate::support::settings(dir.path());
    s.database_url = Some("mysql://x".into());
    assert!(s.validate().is_err());
}

/// Every route that reads a JSON body, with the code it gives an unknown field (the zkcode
/// payload's strict parse names its own: `invalid_payload`).
const BODY_ROUTES: &[(Method, &str, &str)] = &[
    (Method::POST, "/api/register", "invalid_request"),
    (Method::POST, "/api/login", "invalid_request"),
    (Method::POST, "/api/refresh", "invalid_request"),
    (Method::POST, "/api/verify", "invalid_request"),
    (Method::POST, "/api/v1/execute", "invalid_request"),
    (Method::POST, "/api/v1/generate", "invalid_request"),
    (Method::PUT, "/api/v1/secrets/API_TOKEN", "invalid_request"),
    (Method::POST, "/api/v1/keys", "invalid_request"),
    (Method::POST, "/api/v1/zk/encrypt", "invalid_request"),
    (Method::PUT, "/api/v1/zk/code/x.py", "invalid_payload"),
    (Method::POST, "/api/v1/zk/execute/x.py", "invalid_request"),
    (Method::PUT, "/api/v1/packages", "invalid_request"),
    (Method::POST, "/api/v1/packages", "invalid_request"),
    (Method::PUT, "/api/v1/egress/allow", "invalid_request"),
];

#[tokio::test]
async fn every_route_answers_the_same_codes_for_the_same_body_errors() {
    let server = TestServer::start().await;
    let user = server.user().await;
    for (method, path, unknown_field) in BODY_ROUTES {
        let cases: [(&str, &[u8], &str); 4] = [
            ("application/json", b"{not json", "invalid_json"),
            ("text/plain", b"{}", "invalid_content_type"),
            ("application/json", br#"{"bogus": 1}"#, unknown_field),
            // serde would fill a struct from an array, field by field: never a body here.
            ("application/json", b" [null]", "invalid_request"),
        ];
        for (content_type, body, code) in cases {
            let response = user
                .jwt
                .request(method.clone(), path)
                .header("content-type", content_type)
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            let (status, error) = error_of(response).await;
            assert_eq!(
                (status.as_u16(), error.code.as_str()),
                (400, code),
                "{method} {path} with {content_type} {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
