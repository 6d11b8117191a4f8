//! The OpenAI-compatible chat-completions wire format against a fake on loopback.

use std::sync::Arc;
use std::time::Duration;

use pyth_on_llm::{
    build_prompt, extract_code, provider_from_config, LlmConfig, LlmError, Provider,
};
use serde_json::{json, Value};

use crate::fake::{FakeProvider, Reply};
use crate::{assert_clean, BODY_MARKER, KEY, SECRET_VALUE};

fn provider(fake: &FakeProvider, key: Option<&str>, timeout: Duration) -> Arc<dyn Provider> {
    let cfg = LlmConfig {
        openai_base_url: Some(format!("{}/v1", fake.base_url)),
        openai_api_key: key.map(|k| k.to_owned().into()),
        timeout,
        max_retries: 2,
        max_output_tokens: 777,
        ..LlmConfig::default()
    };
    let provider = provider_from_config(&cfg).expect("configured");
    assert_eq!(provider.name(), "openai");
    provider
}

fn keyed(fake: &FakeProvider) -> Arc<dyn Provider> {
    provider(fake, Some(KEY), Duration::from_secs(5))
}

fn answer(content: Value) -> Reply {
    Reply::json(
        200,
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 200, "completion_tokens": 30, "total_tokens": 230}
        }),
    )
}

async fn ask(provider: &dyn Provider) -> Result<pyth_on_llm::Completion, LlmError> {
    provider
        .complete(&build_prompt("javascript", "print hello", &[], &[]))
        .await
}

#[tokio::test]
async fn the_request_carries_the_bearer_key_model_limits_and_both_messages() {
    // Arrange
    let fake = FakeProvider::start(vec![answer(json!("console.log(1)"))]).await;
    let provider = keyed(&fake);
    let request = build_prompt(
        "javascript",
        "read my token",
        &["GITHUB_TOKEN".to_owned()],
        &["lodash".to_owned()],
    );

    // Act
    let completion = provider.complete(&request).await.expect("success");

    // Assert: the exact request.
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("x-api-key"), None);
    let body = sent.json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["max_tokens"], 777);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": request.system},
            {"role": "user", "content": "read my token"}
        ])
    );
    let system = body["messages"][0]["content"].as_str().expect("text");
    assert!(system.contains("GITHUB_TOKEN"));
    assert!(system.contains("lodash"));
    assert!(system.contains("process.env"));
    assert!(!sent.everything().contains(SECRET_VALUE));
    // And the answer.
    assert_eq!(completion.text, "console.log(1)");
    assert_eq!(completion.model, "gpt-4o-mini-2024-07-18");
    assert_eq!(completion.input_tokens, Some(200));
    assert_eq!(completion.output_tokens, Some(30));
}

#[tokio::test]
async fn without_a_key_no_authorization_header_is_sent() {
    // Arrange
    let fake = FakeProvider::start(vec![answer(json!("console.log(1)"))]).await;

    // Act
    ask(&*provider(&fake, None, Duration::from_secs(5)))
        .await
        .expect("success");

    // Assert
    assert_eq!(fake.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn a_fenced_answer_yields_the_code_and_the_explanation() {
    // Arrange
    let text = "Here you go:\r\n```js\r\nconsole.log('hello');\r\n```\r\n";
    let fake = FakeProvider::start(vec![answer(json!(text))]).await;

    // Act
    let completion = ask(&*keyed(&fake)).await.expect("success");
    let extracted = extract_code(&completion.text, "javascript");

    // Assert
    assert_eq!(extracted.code, "console.log('hello');");
    assert_eq!(extracted.explanation, "Here you go:");
}

#[tokio::test]
async fn an_unfenced_answer_is_taken_as_bare_code() {
    // Arrange
    let fake = FakeProvider::start(vec![answer(json!("console.log('hello');\n"))]).await;

    // Act
    let completion = ask(&*keyed(&fake)).await.expect("success");
    let extracted = extract_code(&completion.text, "javascript");

    // Assert
    assert_eq!(extracted.code, "console.log('hello');");
    assert_eq!(extracted.explanation, "");
}

#[tokio::test]
async fn content_given_as_text_parts_is_joined() {
    // Arrange
    let parts = json!([{"type": "text", "text": "console."}, {"type": "text", "text": "log(2)"}]);
    let fake = FakeProvider::start(vec![answer(parts)]).await;

    // Act
    let completion = ask(&*keyed(&fake)).await.expect("success");

    // Assert
    assert_eq!(completion.text, "console.log(2)");
}

#[tokio::test]
async fn a_429_is_retried_and_then_succeeds() {
    // Arrange
    let fake = FakeProvider::start(vec![
        Reply::json(429, json!({"error": {"message": BODY_MARKER}}))
            .with_header("retry-after-ms", "10"),
        answer(json!("console.log(3)")),
    ])
    .await;

    // Act
    let completion = ask(&*keyed(&fake)).await.expect("second attempt succeeds");

    // Assert
    assert_eq!(completion.text, "console.log(3)");
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn a_500_every_time_is_a_status_error_after_all_retries() {
    // Arrange
    let fake = FakeProvider::start(vec![Reply::raw(500, BODY_MARKER)]).await;

    // Act
    let err = ask(&*keyed(&fake)).await.expect_err("never succeeds");

    // Assert
    assert_eq!(err, LlmError::Status { status: 500 });
    assert_eq!(fake.requests().len(), 3);
    assert_clean(&err);
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    // Arrange
    let fake = FakeProvider::start(vec![answer(json!("late")).after(Duration::from_secs(5))]).await;

    // Act
    let err = ask(&*provider(&fake, Some(KEY), Duration::from_millis(300)))
        .await
        .expect_err("too slow");

    // Assert
    assert_eq!(err, LlmError::Timeout);
    assert_eq!(fake.requests().len(), 1);
    assert_clean(&err);
}

#[tokio::test]
async fn malformed_json_is_a_malformed_error_that_quotes_nothing() {
    for body in [
        format!("{{\"choices\": \"{BODY_MARKER}\"}}"),
        format!("<html>{BODY_MARKER}</html>"),
        format!(
            "{{\"choices\": [{{\"message\": {{\"content\": {{\"x\": \"{BODY_MARKER}\"}}}}}}]}}"
        ),
    ] {
        // Arrange
        let fake = FakeProvider::start(vec![Reply::raw(200, body)]).await;

        // Act
        let err = ask(&*keyed(&fake)).await.expect_err("malformed");

        // Assert
        assert!(matches!(err, LlmError::Malformed(_)), "{err:?}");
        assert_clean(&err);
    }
}

#[tokio::test]
async fn an_answer_without_text_is_empty() {
    for reply in [
        answer(Value::Null),
        answer(json!("")),
        Reply::json(200, json!({"choices": []})),
    ] {
        // Arrange
        let fake = FakeProvider::start(vec![reply]).await;

        // Act
        let err = ask(&*keyed(&fake)).await.expect_err("empty");

        // Assert
        assert_eq!(err, LlmError::Empty);
        assert_clean(&err);
    }
}
