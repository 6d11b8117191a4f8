//! `POST /api/verify`: the body's token is the one checked when there is one, and the body is
//! read like every other route's, with or without an `Authorization` header.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestServer, TestUser};

/// Status and code (or, on success, the verified user's email).
async fn verify(user: &TestUser, body: Option<(&str, &[u8])>) -> (StatusCode, String) {
    let mut request = user.jwt.request(Method::POST, "/api/verify");
    if let Some((content_type, bytes)) = body {
        request = request
            .header("content-type", content_type)
            .body(bytes.to_vec());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let value: serde_json::Value = response.json().await.unwrap();
    let what = if status.is_success() {
        value["user"]["email"].as_str().unwrap().to_string()
    } else {
        value["code"].as_str().unwrap().to_string()
    };
    (status, what)
}

const JSON: &str = "application/json";

#[tokio::test]
async fn verify_checks_the_body_token_even_with_a_bearer_header() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let body = json!({"token": "bogus"}).to_string();
    let (status, code) = verify(&user, Some((JSON, body.as_bytes()))).await;
    assert_eq!((status.as_u16(), code.as_str()), (401, "unauthorized"));
}

#[tokio::test]
async fn verify_answers_for_the_body_token_not_the_headers() {
    let server = TestServer::start().await;
    let caller = server.user().await;
    let other = server.user().await;
    let body = json!({"token": other.auth.token}).to_string();
    let (status, email) = verify(&caller, Some((JSON, body.as_bytes()))).await;
    assert_eq!(status, 200);
    assert_eq!(email, other.email);
}

#[tokio::test]
async fn verify_without_a_body_token_checks_the_header() {
    let server = TestServer::start().await;
    let user = server.user().await;
    for body in [None, Some((JSON, &b"{}"[..])), Some((JSON, &b"null"[..]))] {
        let (status, email) = verify(&user, body).await;
        assert_eq!(
            (status.as_u16(), email.as_str()),
            (200, user.email.as_str())
        );
    }
    let anonymous = server
        .client
        .request(Method::POST, "/api/verify")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn verify_refuses_a_malformed_body_even_with_a_bearer_header() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let (status, code) = verify(&user, Some((JSON, &b"{not json"[..]))).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "invalid_json"));
}

#[tokio::test]
async fn verify_refuses_unknown_fields_as_invalid_request_like_every_route() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let body = json!({"token": user.auth.token, "extra": 1}).to_string();
    let (status, code) = verify(&user, Some((JSON, body.as_bytes()))).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "invalid_request"));
    let anonymous = server
        .client
        .request(Method::POST, "/api/verify")
        .json(&json!({"token": user.auth.token, "extra": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 400);
    let body: pyth_on_types::ErrorBody = anonymous.json().await.unwrap();
    assert_eq!(body.code, "invalid_request");
}

#[tokio::test]
async fn verify_refuses_a_text_plain_body_like_every_route() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let token = user.auth.token.clone();
    let (status, code) = verify(&user, Some(("text/plain", token.as_bytes()))).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (400, "invalid_content_type")
    );
}
