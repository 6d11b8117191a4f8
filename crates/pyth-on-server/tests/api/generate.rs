//! `/generate` against a local fake provider speaking the Anthropic Messages wire format over
//! real HTTP (the provider crate's own tests cover both wire formats in detail).

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use pyth_on_types::GenerateRequest;

use crate::support::{assert_api_error, TestServer};

#[derive(Clone)]
struct Fake {
    answer: Arc<Mutex<(u16, String)>>,
    seen: Arc<Mutex<Vec<(HeaderMap, serde_json::Value)>>>,
}

async fn messages(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> (StatusCode, String) {
    fake.seen.lock().unwrap().push((headers, body));
    let (status, text) = fake.answer.lock().unwrap().clone();
    (StatusCode::from_u16(status).unwrap(), text)
}

async fn fake_provider(status: u16, text: &str) -> (String, Fake) {
    let fake = Fake {
        answer: Arc::new(Mutex::new((status, text.to_string()))),
        seen: Arc::default(),
    };
    let app = Router::new()
        .route("/v1/messages", post(messages))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fake)
}

fn anthropic_answer(text: &str) -> String {
    serde_json::json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 120, "output_tokens": 30}
    })
    .to_string()
}

async fn server_with_provider(url: &str) -> TestServer {
    let url = url.to_string();
    TestServer::start_with(move |s| {
        s.anthropic_api_key = Some("sk-ant-test-key-123".parse().unwrap());
        s.anthropic_base_url = url;
        s.llm_timeout_secs = 2;
    })
    .await
}

#[tokio::test]
async fn generated_code_runs_with_the_users_secrets_and_the_model_sees_only_their_names() {
    let answer = "Here you go:\n```python\nimport os\nprint('len', len(os.environ['WEATHER_KEY']))\n```\nIt prints the key length.";
    let (url, fake) = fake_provider(200, &anthropic_answer(answer)).await;
    let server = server_with_provider(&url).await;
    let user = server.user().await;
    user.key
        .put_secret("WEATHER_KEY", "wk-secret-value-99")
        .await
        .unwrap();
    let response = user
        .key
        .generate(&GenerateRequest {
            prompt: "print the length of my weather key".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        response.code,
        "import os\nprint('len', len(os.environ['WEATHER_KEY']))"
    );
    assert!(response.explanation.contains("It prints the key length."));
    assert_eq!(response.model, "claude-test");
    assert!(response.executed);
    assert_eq!(response.execution.unwrap().output, "len 18\n");
    let (headers, body) = fake.seen.lock().unwrap()[0].clone();
    assert_eq!(headers["x-api-key"], "sk-ant-test-key-123");
    assert!(headers.contains_key("anthropic-version"));
    let raw = body.to_string();
    assert!(raw.contains("WEATHER_KEY"));
    assert!(!raw.contains("wk-secret-value-99"));
    assert!(raw.contains("print the length of my weather key"));
    // Audited with model and tokens, never the prompt.
    let audit = user.key.audit(None, None, Some("generate")).await.unwrap();
    let entry = &audit.entries[0];
    assert_eq!(entry.details["model"], "claude-test");
    assert_eq!(entry.details["inputTokens"], 120);
    assert!(!serde_json::to_string(entry)
        .unwrap()
        .contains("weather key"));
    let info = server.client.info().await.unwrap();
    assert!(info.features.generate);
}

#[tokio::test]
async fn generation_without_execution_returns_only_the_code() {
    let (url, fake) = fake_provider(200, &anthropic_answer("console.log(42)")).await;
    let server = server_with_provider(&url).await;
    let user = server.user().await;
    // The model is told the user's persistent packages for the language.
    let set = user
        .key
        .request(reqwest::Method::PUT, "/api/v1/packages")
        .json(&serde_json::json!({"packages": ["left-pad@1.3.0"], "language": "javascript"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let response = user
        .key
        .generate(&GenerateRequest {
            prompt: "42".into(),
            language: Some("js".into()),
            execute: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (
            response.code.as_str(),
            response.language.as_str(),
            response.executed
        ),
        ("console.log(42)", "javascript", false)
    );
    assert!(response.execution.is_none());
    let (_, body) = fake.seen.lock().unwrap()[0].clone();
    assert!(
        body.to_string().contains("left-pad@1.3.0"),
        "the model is told the packages: {body}"
    );
}

#[tokio::test]
async fn provider_failures_are_502_without_the_providers_body_or_key() {
    let (url, _fake) = fake_provider(500, "{\"error\": \"internal-provider-detail\"}").await;
    let server = server_with_provider(&url).await;
    let user = server.user().await;
    let body = assert_api_error(
        user.key
            .generate(&GenerateRequest {
                prompt: "x".into(),
                ..Default::default()
            })
            .await,
        502,
        "upstream_error",
    );
    assert!(!body.error.contains("internal-provider-detail"));
    assert!(!body.error.contains("sk-ant"));
    let (url, _fake) = fake_provider(200, &anthropic_answer("")).await;
    let server = server_with_provider(&url).await;
    let user = server.user().await;
    assert_api_error(
        user.key
            .generate(&GenerateRequest {
                prompt: "x".into(),
                ..Default::default()
            })
            .await,
        502,
        "upstream_error",
    );
}

#[tokio::test]
async fn generate_without_a_provider_is_503_and_bad_prompts_are_refused() {
    let server = TestServer::start().await;
    let user = server.user().await;
    assert_api_error(
        user.key
            .generate(&GenerateRequest {
                prompt: "x".into(),
                ..Default::default()
            })
            .await,
        503,
        "generate_not_configured",
    );
    assert_api_error(
        user.key
            .generate(&GenerateRequest {
                prompt: "  ".into(),
                ..Default::default()
            })
            .await,
        400,
        "validation_failed",
    );
    assert_api_error(
        user.key
            .generate(&GenerateRequest {
                prompt: "x".repeat(16_385),
                ..Default::default()
            })
            .await,
        413,
        "payload_too_large",
    );
    assert_api_error(
        user.key
            .generate(&GenerateRequest {
                prompt: "x".into(),
                language: Some("cobol".into()),
                ..Default::default()
            })
            .await,
        400,
        "unsupported_language",
    );
}

#[tokio::test]
async fn generate_has_its_own_stricter_rate_limit() {
    let (url, fake) = fake_provider(200, &anthropic_answer("print(1)")).await;
    let url2 = url.clone();
    let server = TestServer::start_with(move |s| {
        s.anthropic_api_key = Some("sk-ant-test".parse().unwrap());
        s.anthropic_base_url = url2;
        s.generate_rate_limit_per_minute = 2;
    })
    .await;
    let user = server.user().await;
    let req = GenerateRequest {
        prompt: "x".into(),
        execute: Some(false),
        ..Default::default()
    };
    user.key.generate(&req).await.unwrap();
    user.key.generate(&req).await.unwrap();
    assert_api_error(user.key.generate(&req).await, 429, "rate_limited");
    assert_eq!(
        fake.seen.lock().unwrap().len(),
        2,
        "the refused call never reached the provider"
    );
    // Other routes are still open.
    user.key.list_secrets().await.unwrap();
}
