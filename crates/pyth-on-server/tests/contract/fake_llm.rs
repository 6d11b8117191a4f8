//! A local model provider speaking the Anthropic Messages wire format, so `/generate` is
//! tested like every other route instead of answering 503 `generate_not_configured`.

use axum::routing::post;
use axum::{Json, Router};

/// Answers every completion with a one-line Python program; returns its base URL.
pub async fn start() -> String {
    let answer = serde_json::json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "fake-model",
        "content": [{"type": "text", "text": "```python\nprint(1)\n```"}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 10, "output_tokens": 5}
    });
    let app = Router::new().route(
        "/v1/messages",
        post(move || {
            let answer = answer.clone();
            async move { Json(answer) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}
