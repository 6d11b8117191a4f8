//! `AppJson`: axum's JSON extractor and response with our error shape for every rejection (a
//! body that stops arriving is a 408).

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ApiError;

/// A JSON body (in) or a JSON response (out).
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, bytes) = read_body(req, state).await?;
        parse(parts, bytes, state).await.map(Self)
    }
}

/// The request's head and its whole body, read under the body limit (which travels in the
/// request extensions).
async fn read_body<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<(Parts, Bytes), ApiError> {
    let (parts, body) = request.into_parts();
    let mut bytes_request = Request::new(body);
    *bytes_request.extensions_mut() = parts.extensions.clone();
    let bytes = Bytes::from_request(bytes_request, state)
        .await
        .map_err(|e| rejection_to_error(&JsonRejection::from(e)))?;
    Ok((parts, bytes))
}

/// Parses a body read by [`read_body`] with axum's JSON extractor (content type, syntax,
/// shape), then refuses a top-level array: serde fills a struct from an array positionally, and
/// no body of this API is one.
async fn parse<S, T>(parts: Parts, bytes: Bytes, state: &S) -> Result<T, ApiError>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    let is_array = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    let axum::Json(value) = axum::Json::<T>::from_request(request, state)
        .await
        .map_err(|rejection| rejection_to_error(&rejection))?;
    if is_array {
        return Err(ApiError::bad_request(
            "invalid request body: expected a JSON object, not an array",
        ));
    }
    Ok(value)
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// An optional JSON body: `None` when the request has no body at all, else the body read
/// exactly as [`AppJson`] reads one (same limit, content type and error codes).
pub async fn optional_json<T, S>(request: Request, state: &S) -> Result<Option<T>, ApiError>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    let (parts, bytes) = read_body(request, state).await?;
    if bytes.is_empty() {
        return Ok(None);
    }
    parse(parts, bytes, state).await.map(Some)
}

/// Maps axum's JSON rejections to 400 (or 413) in our shape, without echoing body content.
pub fn rejection_to_error(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(err) => ApiError::BadRequest {
            code: "invalid_request",
            message: format!("invalid request body: {}", scrub(&err.body_text())),
            details: None,
        },
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request_code(
            "invalid_json",
            "the request body is not valid JSON (or not valid UTF-8)",
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::bad_request_code(
            "invalid_content_type",
            "expected a body with `Content-Type: application/json`",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge("the request body is larger than the configured limit".into())
        }
        other if is_body_timeout(other) => ApiError::RequestTimeout(
            "the request body did not arrive in time (--http-body-timeout-secs)".into(),
        ),
        _ => ApiError::bad_request("the request body could not be read"),
    }
}

/// Whether reading the body stopped at the body timeout (`--http-body-timeout-secs`).
fn is_body_timeout(rejection: &JsonRejection) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(err) = cause {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// serde's messages can quote the offending value (`invalid type: string "hunter2"`); keep the
/// field path and the expectation, drop the value: `timeoutMs: wrong type, expected u64`.
fn scrub(message: &str) -> String {
    let message = message
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .unwrap_or(message);
    let mut out = message.to_string();
    for (marker, said) in [
        ("invalid type: ", "wrong type"),
        ("invalid value: ", "invalid value"),
        ("invalid length ", "wrong length"),
    ] {
        if let Some(start) = out.find(marker) {
            let rest = &out[start..];
            let end = rest.find(", expected ").map_or(out.len(), |e| start + e);
            out = format!("{}{said}{}", &out[..start], &out[end..]);
        }
    }
    out
}

/// A query string that did not parse, as a client is told: `invalid query: limit: invalid
/// digit found in string`.
pub fn query_error(rejection: &axum::extract::rejection::QueryRejection) -> String {
    let text = rejection.body_text();
    let text = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text);
    format!("invalid query: {text}")
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn scrubbed_messages_do_not_echo_the_offending_value() {
        let msg = "timeoutMs: invalid type: string \"hunter2\", expected u64 at line 1 column 20";
        let out = scrub(msg);
        assert!(!out.contains("hunter2"), "{out}");
        assert!(out.contains("timeoutMs"));
        assert!(out.contains("expected u64"));
    }

    #[test]
    fn a_wrong_type_or_value_reads_as_such_with_what_was_expected() {
        let wrong_type = scrub("code: invalid type: integer `123`, expected a string at line 1");
        let out_of_range = scrub("memoryMb: invalid value: integer `-5`, expected u32");
        assert_eq!(wrong_type, "code: wrong type, expected a string at line 1");
        assert_eq!(out_of_range, "memoryMb: invalid value, expected u32");
    }

    #[test]
    fn unknown_field_messages_are_kept() {
        let out = scrub("unknown field `foo`, expected `code` at line 1 column 6");
        assert!(out.contains("unknown field `foo`"));
    }
}
