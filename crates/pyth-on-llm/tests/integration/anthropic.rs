//! The Anthropic Messages API against a fake on loopback.

use std::sync::Arc;
use std::time::Duration;

use pyth_on_llm::{
    build_prompt, extract_code, provider_from_config, LlmConfig, LlmError, Provider,
};
use serde_json::json;

use crate::fake::{FakeProvider, Reply};
use crate::{assert_clean, BODY_MARKER, KEY, SECRET_VALUE};

fn provider(fake: &FakeProvider, timeout: Duration) -> Arc<dyn Provider> {
    let cfg = LlmConfig {
        anthropic_api_key: Some(KEY.to_owned().into()),
        anthropic_base_url: format!("{}/", fake.base_url),
        // Set too, to show the Anthropic key wins.
        openai_base_url: Some(format!("{}/v1", fake.base_url)),
        model: Some("claude-test-model".into()),
        timeout,
        max_retries: 2,
        max_output_tokens: 1234,
        ..LlmConfig::default()
    };
    let provider = provider_from_config(&cfg).expect("configured");
    assert_eq!(provider.name(), "anthropic");
    provider
}

fn answer(text: &str) -> Reply {
    Reply::json(
        200,
        json!({
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": text}],
            "model": "claude-test-model-20250101",
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 321, "output_tokens": 45}
        }),
    )
}

async fn ask(provider: &dyn Provider) -> Result<pyth_on_llm::Completion, LlmError> {
    provider
        .complete(&build_prompt("python", "print hello", &[], &[]))
        .await
}

#[tokio::test]
async fn the_request_carries_key_version_model_limits_and_the_prompt() {
    // Arrange
    let fake = FakeProvider::start(vec![answer("```python\nprint('hi')\n```")]).await;
    let provider = provider(&fake, Duration::from_secs(5));
    let secret_names = vec!["DB_PASSWORD".to_owned(), "STRIPE_KEY".to_owned()];
    let packages = vec!["numpy".to_owned(), "requests".to_owned()];
    let request = build_prompt("python", "sum my invoices", &secret_names, &packages);

    // Act
    let completion = provider.complete(&request).await.expect("success");

    // Assert: the exact request.
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("authorization"), None);
    let body = sent.json();
    assert_eq!(body["model"], "claude-test-model");
    assert_eq!(body["max_tokens"], 1234);
    assert_eq!(body["system"], request.system.as_str());
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "sum my invoices"}])
    );
    let system = body["system"].as_str().expect("system is text");
    for name in ["DB_PASSWORD", "STRIPE_KEY", "numpy", "requests"] {
        assert!(system.contains(name), "system prompt lacks {name}");
    }
    assert!(!sent.everything().contains(SECRET_VALUE));
    // And the answer.
    assert_eq!(completion.text, "```python\nprint('hi')\n```");
    assert_eq!(completion.model, "claude-test-model-20250101");
    assert_eq!(completion.input_tokens, Some(321));
    assert_eq!(completion.output_tokens, Some(45));
}

#[tokio::test]
async fn a_fenced_answer_yields_the_code_and_the_explanation() {
    // Arrange
    let text = "This prints a greeting.\n\n```python\nprint('hello')\n```\n\nRun it as is.";
    let fake = FakeProvider::start(vec![answer(text)]).await;

    // Act
    let completion = ask(&*provider(&fake, Duration::from_secs(5)))
        .await
        .expect("success");
    let extracted = extract_code(&completion.text, "python");

    // Assert
    assert_eq!(extracted.code, "print('hello')");
    assert_eq!(
        extracted.explanation,
        "This prints a greeting.\n\nRun it as is."
    );
}

#[tokio::test]
async fn an_unfenced_answer_is_taken_as_bare_code() {
    // Arrange
    let fake = FakeProvider::start(vec![answer("\nprint('hello')\n")]).await;

    // Act
    let completion = ask(&*provider(&fake, Duration::from_secs(5)))
        .await
        .expect("success");
    let extracted = extract_code(&completion.text, "python");

    // Assert
    assert_eq!(extracted.code, "print('hello')");
    assert_eq!(extracted.explanation, "");
}

#[tokio::test]
async fn several_text_blocks_are_joined_in_order() {
    // Arrange
    let fake = FakeProvider::start(vec![Reply::json(
        200,
        json!({"content": [
            {"type": "text", "text": "```python\n"},
            {"type": "tool_use", "id": "x", "name": "y", "input": {}},
            {"type": "text", "text": "print(1)\n```"}
        ]}),
    )])
    .await;

    // Act
    let completion = ask(&*provider(&fake, Duration::from_secs(5)))
        .await
        .expect("success");

    // Assert: no model or usage reported falls back to the requested model and None.
    assert_eq!(completion.text, "```python\nprint(1)\n```");
    assert_eq!(completion.model, "claude-test-model");
    assert_eq!(completion.input_tokens, None);
}

#[tokio::test]
async fn a_429_is_retried_and_then_succeeds() {
    // Arrange
    let fake = FakeProvider::start(vec![
        Reply::json(
            429,
            json!({"type": "error", "error": {"type": "rate_limit_error"}}),
        )
        .with_header("retry-after", "0"),
        answer("print(1)"),
    ])
    .await;

    // Act
    let completion = ask(&*provider(&fake, Duration::from_secs(5)))
        .await
        .expect("second attempt succeeds");

    // Assert
    assert_eq!(completion.text, "print(1)");
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn a_500_every_time_is_a_status_error_after_all_retries() {
    // Arrange
    let fake = FakeProvider::start(vec![Reply::raw(500, BODY_MARKER)]).await;

    // Act
    let err = ask(&*provider(&fake, Duration::from_secs(5)))
        .await
        .expect_err("never succeeds");

    // Assert: max_retries (2) + 1 attempts.
    assert_eq!(err, LlmError::Status { status: 500 });
    assert_eq!(fake.requests().len(), 3);
    assert_clean(&err);
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    // Arrange
    let fake = FakeProvider::start(vec![Reply::raw(401, BODY_MARKER)]).await;

    // Act
    let err = ask(&*provider(&fake, Duration::from_secs(5)))
        .await
        .expect_err("unauthorized");

    // Assert
    assert_eq!(err, LlmError::Status { status: 401 });
    assert_eq!(fake.requests().len(), 1);
    assert_clean(&err);
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    // Arrange
    let fake = FakeProvider::start(vec![answer("late").after(Duration::from_secs(5))]).await;

    // Act
    let started = std::time::Instant::now();
    let err = ask(&*provider(&fake, Duration::from_millis(300)))
        .await
        .expect_err("too slow");

    // Assert: a timeout is final, not retried.
    assert_eq!(err, LlmError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(fake.requests().len(), 1);
    assert_clean(&err);
}

#[tokio::test]
async fn malformed_json_is_a_malformed_error_that_quotes_nothing() {
    for body in [
        format!("{{\"content\": \"{BODY_MARKER}\"}}"),
        format!("not json {BODY_MARKER}"),
        format!("{{\"content\": [{{\"type\": \"text\", \"text\": \"{BODY_MARKER}"),
    ] {
        // Arrange
        let fake = FakeProvider::start(vec![Reply::raw(200, body)]).await;

        // Act
        let err = ask(&*provider(&fake, Duration::from_secs(5)))
            .await
            .expect_err("malformed");

        // Assert
        assert!(matches!(err, LlmError::Malformed(_)), "{err:?}");
        assert_clean(&err);
    }
}

#[tokio::test]
async fn an_answer_without_text_is_empty() {
    for content in [json!([]), json!([{"type": "text", "text": "  \n"}])] {
        // Arrange
        let fake = FakeProvider::start(vec![Reply::json(200, json!({"content": content}))]).await;

        // Act
        let err = ask(&*provider(&fake, Duration::from_secs(5)))
            .await
            .expect_err("empty");

        // Assert
        assert_eq!(err, LlmError::Empty);
    }
}

#[tokio::test]
async fn an_answer_over_four_mebibytes_is_refused() {
    // Arrange
    let huge = format!(
        "{{\"content\": [{{\"type\": \"text\", \"text\": \"{}\"}}]}}",
        "x".repeat(4 * 1024 * 1024 + 1)
    );
    let fake = FakeProvider::start(vec![Reply::raw(200, huge)]).await;

    // Act
    let err = ask(&*provider(&fake, Duration::from_secs(5)))
        .await
        .expect_err("too large");

    // Assert
    assert!(matches!(err, LlmError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn a_redirect_is_not_followed_so_the_key_stays_put() {
    // Arrange
    let fake = FakeProvider::start(vec![
        Reply::raw(307, "").with_header("location", "http://127.0.0.1:9/steal")
    ])
    .await;

    // Act
    let err = ask(&*provider(&fake, Duration::from_secs(5)))
        .await
        .expect_err("redirect");

    // Assert
    assert_eq!(err, LlmError::Status { status: 307 });
    assert_eq!(fake.requests().len(), 1);
}
