//! Forwarding a request to another node of the same deployment as it came: same method, path,
//! query, headers (credentials included) and body, streamed both ways (an upload, a file
//! download or an event stream passes through as it goes), hop-by-hop headers left out. The
//! forwarded request carries [`FORWARDED_BY`] (never forwarded again), the client's address
//! appended to `X-Forwarded-For`, and this request's id. Only URLs the caller chose from
//! records written by nodes are contacted.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;

use crate::context::current_request_id;

/// Marks a request one node forwarded to another (its value: the forwarding node's URL).
pub const FORWARDED_BY: HeaderName = HeaderName::from_static("x-pyth-on-forwarded-by");

/// How long a node may take to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Sends requests on to other nodes. Cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct Forwarder {
    client: reqwest::Client,
    answer_within: Duration,
}

/// Why a forwarded request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The node refused or did not take the connection, or did not answer in time.
    #[error("the node did not answer")]
    Unreachable(#[source] Option<reqwest::Error>),
    /// It failed otherwise (the connection broke mid-request, a bad answer).
    #[error("the request could not be forwarded")]
    Failed(#[source] reqwest::Error),
}

impl Forwarder {
    /// A forwarder whose requests must be answered (their headers) within `answer_within`.
    pub fn new(answer_within: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            client,
            answer_within,
        })
    }

    /// Sends `request` to the node at `base` (a base URL without a trailing `/`) and gives
    /// back its answer, the body still streaming. `peer` is the client's address as this
    /// node saw it, `by` this node's URL.
    pub async fn forward(
        &self,
        base: &str,
        request: Request,
        peer: IpAddr,
        by: &str,
    ) -> Result<Response, ForwardError> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut headers = end_to_end(&parts.headers);
        let forwarded_for = match parts.headers.get("x-forwarded-for") {
            Some(chain) => format!("{}, {peer}", chain.to_str().unwrap_or_default()),
            None => peer.to_string(),
        };
        for (name, value) in [
            (HeaderName::from_static("x-forwarded-for"), forwarded_for),
            (FORWARDED_BY, by.to_owned()),
            (
                HeaderName::from_static("x-request-id"),
                current_request_id(),
            ),
        ] {
            if let Ok(value) = HeaderValue::try_from(value) {
                headers.insert(name, value);
            }
        }
        let sent = self
            .client
            .request(parts.method, format!("{base}{path}"))
            .headers(headers)
            .body(reqwest::Body::wrap(SyncBody(Mutex::new(body))))
            .send();
        let answer = match tokio::time::timeout(self.answer_within, sent).await {
            Err(_) => return Err(ForwardError::Unreachable(None)),
            Ok(Err(e)) if e.is_connect() || e.is_timeout() => {
                return Err(ForwardError::Unreachable(Some(e)))
            }
            Ok(Err(e)) => return Err(ForwardError::Failed(e)),
            Ok(Ok(answer)) => answer,
        };
        let answer: axum::http::Response<reqwest::Body> = answer.into();
        let (mut parts, body) = answer.into_parts();
        parts.headers = end_to_end(&parts.headers);
        Ok(Response::from_parts(parts, Body::new(body)))
    }
}

/// `headers` without the hop-by-hop ones (those of this connection only: RFC 9110 7.6.1,
/// and any the `Connection` header names), without `Host`, and without `Expect` (this node's
/// server already answered a `100-continue`).
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let hop = |name: &HeaderName| {
        matches!(
            name.as_str(),
            "connection"
                | "keep-alive"
                | "proxy-connection"
                | "proxy-authenticate"
                | "proxy-authorization"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "upgrade"
                | "host"
                | "expect"
        ) || named.iter().any(|n| n == name.as_str())
    };
    let mut kept = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !hop(name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

/// The incoming body, made `Sync` for the client (it is only ever polled through `&mut`; the
/// lock is never contended).
struct SyncBody(Mutex<Body>);

impl HttpBody for SyncBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        let body = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        Pin::new(body).poll_frame(cx)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .size_hint()
    }

    fn is_end_stream(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::http::Uri;
    use axum::routing::post;
    use futures::StreamExt;
    use tokio::sync::mpsc;

    use super::*;

    type Seen = Arc<Mutex<Option<(Uri, HeaderMap, Bytes)>>>;

    /// A node whose one route records what it was sent and answers with the chunks `chunks`
    /// gives it, as they come.
    async fn upstream(seen: Seen, chunks: mpsc::Receiver<Bytes>) -> String {
        let chunks = Arc::new(Mutex::new(Some(chunks)));
        let route = move |uri: Uri, headers: HeaderMap, body: Bytes| async move {
            *seen.lock().unwrap() = Some((uri, headers, body));
            let rx = chunks.lock().unwrap().take().unwrap();
            let stream = futures::stream::unfold(rx, |mut rx| async move {
                let chunk = rx.recv().await?;
                Some((Ok::<_, std::convert::Infallible>(chunk), rx))
            });
            Body::from_stream(stream)
        };
        let app = axum::Router::new().route("/api/v1/sessions/{id}/execute", post(route));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    #[tokio::test]
    async fn an_answer_streams_through_as_it_comes_with_credentials_and_client_address_passed_on() {
        let seen = Seen::default();
        let (send, chunks) = mpsc::channel(4);
        let base = upstream(seen.clone(), chunks).await;
        let request = Request::builder()
            .method("POST")
            .uri("/api/v1/sessions/s1/execute?x=1")
            .header("x-api-key", "po_key")
            .header("x-forwarded-for", "198.51.100.1")
            .body(Body::from("x + 1"))
            .unwrap();
        let forwarder = Forwarder::new(Duration::from_secs(5)).unwrap();
        let peer: IpAddr = "203.0.113.7".parse().unwrap();

        let answer = forwarder
            .forward(&base, request, peer, "http://node-b")
            .await
            .unwrap();
        let mut body = answer.into_body().into_data_stream();
        send.send(Bytes::from("first")).await.unwrap();
        let first = tokio::time::timeout(Duration::from_secs(5), body.next()).await;
        send.send(Bytes::from("second")).await.unwrap();
        drop(send);
        let rest = body.next().await.unwrap().unwrap();

        assert_eq!(
            first.unwrap().unwrap().unwrap(),
            "first",
            "streamed at once"
        );
        assert_eq!(rest, "second");
        assert!(body.next().await.is_none());
        let (uri, headers, sent) = seen.lock().unwrap().take().unwrap();
        assert_eq!(uri.query(), Some("x=1"));
        assert_eq!(sent, "x + 1");
        assert_eq!(headers["x-api-key"], "po_key");
        assert_eq!(headers[FORWARDED_BY], "http://node-b");
        assert_eq!(headers["x-forwarded-for"], "198.51.100.1, 203.0.113.7");
    }

    #[tokio::test]
    async fn a_node_that_refuses_the_connection_is_unreachable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let forwarder = Forwarder::new(Duration::from_secs(5)).unwrap();
        let request = Request::builder()
            .uri("/api/v1/sessions/s1")
            .body(Body::empty())
            .unwrap();

        let answer = forwarder
            .forward(&base, request, "127.0.0.1".parse().unwrap(), "http://b")
            .await;

        assert!(
            matches!(answer, Err(ForwardError::Unreachable(_))),
            "{answer:?}"
        );
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_not_forwarded() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, x-private-hop"),
            ("x-private-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("host", "node-b:8080"),
            ("expect", "100-continue"),
            ("authorization", "Bearer t"),
            ("x-api-key", "po_k"),
            ("accept", "text/event-stream"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        let kept = end_to_end(&headers);
        let mut names: Vec<&str> = kept.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "authorization", "x-api-key"]);
    }
}
