//! Integration tests: each provider against a local fake of its wire format, over real HTTP on
//! loopback.

mod anthropic;
mod fake;
mod openai;

use pyth_on_llm::LlmError;

/// The key every test configures; it must never show up in an error.
pub const KEY: &str = "sk-test-0123456789-do-not-leak";
/// A secret value the server knows but never hands to the prompt builder.
pub const SECRET_VALUE: &str = "hunter2-secret-value";
/// A marker placed in fake answers; it must never show up in an error.
pub const BODY_MARKER: &str = "LEAKY-BODY-MARKER";

/// Asserts an error's Display and Debug hold neither the key nor any fake answer body.
pub fn assert_clean(err: &LlmError) {
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(KEY), "key leaked: {text}");
        assert!(!text.contains(BODY_MARKER), "body leaked: {text}");
    }
}

#[tokio::test]
async fn an_unreachable_provider_is_a_transport_error_after_retries() {
    // Arrange: a port that was just free, so nothing listens on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let cfg = pyth_on_llm::LlmConfig {
        anthropic_api_key: Some(KEY.to_owned().into()),
        anthropic_base_url: format!("http://127.0.0.1:{port}"),
        max_retries: 1,
        ..Default::default()
    };
    let provider = pyth_on_llm::provider_from_config(&cfg).expect("configured");

    // Act
    let started = std::time::Instant::now();
    let err = provider
        .complete(&pyth_on_llm::build_prompt("python", "hi", &[], &[]))
        .await
        .expect_err("nothing listens");

    // Assert: one retry after the 200 ms backoff.
    assert!(matches!(err, LlmError::Transport(_)), "{err:?}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    assert_clean(&err);
}
