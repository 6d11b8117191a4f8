//! The HTTP plumbing both providers share: endpoint validation, one POST with a per-attempt
//! timeout, bounded retries with backoff, and a bounded body read.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

use crate::error::LlmError;

/// Answers larger than this are refused: a completion of a few thousand tokens is far smaller.
pub(crate) const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// The first retry waits this long; each further retry doubles it.
const BASE_BACKOFF: Duration = Duration::from_millis(200);
/// No single wait is longer than this, whatever `Retry-After` asks for.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Joins a configured base URL and an API path, refusing anything that is not `http(s)`.
pub(crate) fn endpoint(base: &str, path: &str) -> Result<Url, LlmError> {
    let joined = format!("{}{path}", base.trim().trim_end_matches('/'));
    match Url::parse(&joined) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(url),
        _ => Err(LlmError::Transport(
            "the configured base URL is not a valid http(s) URL".to_owned(),
        )),
    }
}

/// A header value holding a key: marked sensitive so it is never printed, and its error never
/// quotes it.
pub(crate) fn secret_header(value: &str) -> Result<HeaderValue, LlmError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        LlmError::Transport("the configured API key is not a valid header value".to_owned())
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// A reqwest client with our timeouts and retry policy.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    client: reqwest::Client,
    max_retries: u32,
}

/// How one attempt ended.
enum Attempt {
    Done(Result<Vec<u8>, LlmError>),
    Retry {
        error: LlmError,
        retry_after: Option<Duration>,
    },
}

impl Transport {
    pub(crate) fn new(timeout: Duration, max_retries: u32) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // A redirect would carry `x-api-key` (which reqwest does not strip) elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("pyth-on/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| LlmError::transport(&err))?;
        Ok(Self {
            client,
            max_retries,
        })
    }

    /// POSTs `body` (JSON) to `url` and returns the body of a 2xx answer, retrying 429, 5xx
    /// and connect failures up to `max_retries` times.
    pub(crate) async fn post_json(
        &self,
        provider: &'static str,
        url: &Url,
        headers: &HeaderMap,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, LlmError> {
        let mut retry = 0;
        loop {
            let (error, retry_after) = match self.attempt(url, headers, body.clone()).await {
                Attempt::Done(result) => return result,
                Attempt::Retry { error, retry_after } => (error, retry_after),
            };
            if retry >= self.max_retries {
                return Err(error);
            }
            let delay = backoff(retry, retry_after);
            tracing::warn!(
                llm.provider = provider,
                retry = retry + 1,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "retrying language model request"
            );
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    async fn attempt(&self, url: &Url, headers: &HeaderMap, body: Vec<u8>) -> Attempt {
        let sent = self
            .client
            .post(url.clone())
            .headers(headers.clone())
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) if err.is_timeout() => return Attempt::Done(Err(LlmError::Timeout)),
            Err(err) if err.is_connect() => {
                return Attempt::Retry {
                    error: LlmError::transport(&err),
                    retry_after: None,
                }
            }
            Err(err) => return Attempt::Done(Err(LlmError::transport(&err))),
        };
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Attempt::Retry {
                error: LlmError::Status {
                    status: status.as_u16(),
                },
                retry_after: retry_after(response.headers()),
            };
        }
        if !status.is_success() {
            return Attempt::Done(Err(LlmError::Status {
                status: status.as_u16(),
            }));
        }
        Attempt::Done(read_bounded(response).await)
    }
}

/// Reads the whole body, refusing more than [`MAX_RESPONSE_BYTES`].
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, LlmError> {
    let too_large = || {
        LlmError::Malformed(format!(
            "the answer is larger than {MAX_RESPONSE_BYTES} bytes"
        ))
    };
    let announced = response.content_length().unwrap_or(0);
    if announced > MAX_RESPONSE_BYTES as u64 {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(err) if err.is_timeout() => return Err(LlmError::Timeout),
            Err(err) => return Err(LlmError::transport(&err)),
        }
    }
}

/// The wait before retry number `retry` (0-based): exponential from [`BASE_BACKOFF`], or the
/// provider's `Retry-After` when that is longer, never more than [`MAX_DELAY`].
fn backoff(retry: u32, retry_after: Option<Duration>) -> Duration {
    let exponential = BASE_BACKOFF.saturating_mul(2u32.saturating_pow(retry));
    exponential
        .max(retry_after.unwrap_or(Duration::ZERO))
        .min(MAX_DELAY)
}

/// Reads `retry-after-ms` (OpenAI), else `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = text(&HeaderName::from_static("retry-after-ms")) {
        if let Ok(ms) = ms.trim().parse::<f64>() {
            return Duration::try_from_secs_f64(ms / 1000.0).ok();
        }
    }
    let value = text(&RETRY_AFTER)?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = OffsetDateTime::parse(value, &Rfc2822).ok()?;
    let wait = at - OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn backoff_doubles_from_two_hundred_milliseconds_and_is_capped() {
        assert_eq!(backoff(0, None), Duration::from_millis(200));
        assert_eq!(backoff(1, None), Duration::from_millis(400));
        assert_eq!(backoff(2, None), Duration::from_millis(800));
        assert_eq!(backoff(30, None), MAX_DELAY);
    }

    #[test]
    fn a_longer_retry_after_is_honoured_up_to_the_cap() {
        assert_eq!(
            backoff(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(backoff(0, Some(Duration::from_secs(3600))), MAX_DELAY);
        assert_eq!(backoff(1, Some(Duration::ZERO)), Duration::from_millis(400));
    }

    #[test]
    fn retry_after_is_read_as_seconds_milliseconds_or_a_date() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "3")])),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(&headers(&[
                ("retry-after-ms", "1500"),
                ("retry-after", "9")
            ])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&headers(&[(
                "retry-after",
                "Wed, 21 Oct 2015 07:28:00 GMT"
            )])),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn endpoints_join_without_doubled_slashes_and_refuse_other_schemes() {
        let url = endpoint("https://api.anthropic.com/", "/v1/messages").expect("valid");
        assert_eq!(url.as_str(), "https://api.anthropic.com/v1/messages");
        let url = endpoint("http://localhost:11434/v1", "/chat/completions").expect("valid");
        assert_eq!(url.as_str(), "http://localhost:11434/v1/chat/completions");
        assert!(endpoint("file:///etc", "/v1/messages").is_err());
        assert!(endpoint("not a url", "/v1/messages").is_err());
    }

    #[test]
    fn an_invalid_key_is_refused_without_being_quoted() {
        let err = secret_header("sk-line\nbreak").expect_err("newline is invalid");
        assert!(!err.to_string().contains("sk-line"));
        assert!(secret_header("sk-ok").expect("valid").is_sensitive());
    }
}
