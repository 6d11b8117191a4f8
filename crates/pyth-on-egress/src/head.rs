//! What one request asks the proxy for, and the head rewriting a forward proxy must do. The
//! requests themselves are framed and parsed by `hyper` (bounded to [`MAX_HEAD_BYTES`] and
//! [`MAX_HEADERS`]); this module only reads their method and target ([`target`]) and rewrites
//! the heads that cross the proxy: origin-form request target, `Host` set to the checked
//! target, hop-by-hop headers dropped both ways ([`rewrite_request`], [`rewrite_response`]).

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::{request, response, uri::Scheme};
use hyper::{Method, Uri, Version};

/// Largest request or response head accepted.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// Most header lines accepted.
pub const MAX_HEADERS: usize = 100;

/// Why a request's target was rejected (a `400` answer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// `CONNECT` with something other than `host:port`.
    #[error("bad CONNECT authority {0:?} (expected host:port)")]
    Connect(String),
    /// Origin-form, `https://` or another scheme.
    #[error("expected an absolute http:// URL (use CONNECT for https)")]
    NotAbsoluteHttp,
    /// `http://user:password@host/`.
    #[error("credentials in the URL")]
    Credentials,
    /// A host that is not a host name or an IP literal, or a bad port.
    #[error("bad host {0:?}")]
    Host(String),
}

/// Where a request wants to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `CONNECT host:port`: a tunnel.
    Connect {
        /// Host, normalised (brackets removed).
        host: String,
        /// Port.
        port: u16,
    },
    /// `GET http://host[:port]/path`: forward to the origin.
    Forward {
        /// Host, normalised.
        host: String,
        /// Port (80 by default).
        port: u16,
        /// The authority as the URL wrote it: the `Host` header sent upstream.
        authority: String,
        /// The origin-form target (`/path?query`) sent upstream.
        origin: Uri,
    },
}

/// Headers that concern only one hop and are never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
];

fn split_authority(auth: &str, default_port: Option<u16>) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = auth.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return None,
        }
    } else {
        match auth.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (auth, None),
        }
    };
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0)?,
        None => default_port?,
    };
    let host = crate::policy::normalize_host(host);
    crate::policy::valid_host(&host).then_some((host, port))
}

/// Reads a parsed request's method and target: `CONNECT host:port`, or an absolute-form
/// `http://` URL without credentials. Anything else is a [`TargetError`].
pub fn target(method: &Method, uri: &Uri) -> Result<Target, TargetError> {
    if method == Method::CONNECT {
        let auth = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let (host, port) = split_authority(auth, None)
            .filter(|_| uri.scheme().is_none())
            .ok_or_else(|| TargetError::Connect(uri.to_string()))?;
        return Ok(Target::Connect { host, port });
    }
    if uri.scheme() != Some(&Scheme::HTTP) {
        return Err(TargetError::NotAbsoluteHttp);
    }
    let authority = uri
        .authority()
        .map(|a| a.as_str())
        .ok_or(TargetError::NotAbsoluteHttp)?;
    if authority.contains('@') {
        return Err(TargetError::Credentials);
    }
    let (host, port) = split_authority(authority, Some(80))
        .ok_or_else(|| TargetError::Host(authority.to_string()))?;
    let origin = match uri.query() {
        Some(q) => format!("{}?{q}", uri.path()),
        None => uri.path().to_string(),
    };
    let origin = origin
        .parse::<Uri>()
        .map_err(|_| TargetError::Host(authority.to_string()))?;
    Ok(Target::Forward {
        host,
        port,
        authority: authority.to_string(),
        origin,
    })
}

/// Drops the hop-by-hop headers, including any a `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// Rewrites a client's request head for the origin: the origin-form `origin` target,
/// HTTP/1.1, hop-by-hop headers dropped, `Connection: close` (one request per upstream
/// connection) and `Host` set to `authority`, the checked target, replacing whatever the
/// client sent (RFC 9112 §3.2.2: forwarding the client's own would let a program reach any
/// virtual host behind an allowed address, domain fronting past the allow-list). The body's
/// framing headers stay as `hyper` left them after parsing (`Content-Length` or chunked).
pub fn rewrite_request(
    parts: &mut request::Parts,
    authority: &str,
    origin: Uri,
) -> Result<(), TargetError> {
    let host =
        HeaderValue::from_str(authority).map_err(|_| TargetError::Host(authority.to_string()))?;
    parts.uri = origin;
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::HOST);
    parts.headers.insert(header::HOST, host);
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    Ok(())
}

/// Rewrites an upstream response head for the client: hop-by-hop headers dropped, and
/// `Content-Length` dropped except on a `HEAD` answer (it describes no body there), so the
/// framing toward the client follows the body the proxy actually relays (`hyper` sets the
/// length it knows, or chunks). A `Transfer-Encoding` stays, and wins over any length.
pub fn rewrite_response(parts: &mut response::Parts, is_head: bool) {
    strip_hop_by_hop(&mut parts.headers);
    if parts.headers.contains_key(header::TRANSFER_ENCODING) || !is_head {
        parts.headers.remove(header::CONTENT_LENGTH);
    }
}

/// Bytes a header block takes on the wire (`name: value\r\n` each, and the blank line).
fn headers_len(headers: &HeaderMap) -> u64 {
    let lines: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    (lines + 2) as u64
}

/// Bytes a request head takes on the wire (for the meter).
pub fn request_head_len(parts: &request::Parts) -> u64 {
    let line = format!("{} {} HTTP/1.1\r\n", parts.method, parts.uri).len();
    line as u64 + headers_len(&parts.headers)
}

/// Bytes a response head takes on the wire (for the meter).
pub fn response_head_len(parts: &response::Parts) -> u64 {
    let line = "HTTP/1.1 200 \r\n".len() + parts.status.canonical_reason().unwrap_or("").len();
    line as u64 + headers_len(&parts.headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> request::Parts {
        let mut b = hyper::Request::builder().method(method).uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).expect("valid request").into_parts().0
    }

    fn target_of(method: &str, uri: &str) -> Result<Target, TargetError> {
        let parts = request(method, uri, &[]);
        target(&parts.method, &parts.uri)
    }

    #[test]
    fn connect_targets_give_the_authority_in_both_families() {
        assert_eq!(
            target_of("CONNECT", "example.com:443"),
            Ok(Target::Connect {
                host: "example.com".into(),
                port: 443
            })
        );
        assert_eq!(
            target_of("CONNECT", "[::1]:8443"),
            Ok(Target::Connect {
                host: "::1".into(),
                port: 8443
            })
        );
        assert!(target_of("CONNECT", "example.com").is_err());
        assert!(target_of("CONNECT", "a:0").is_err());
        assert!(target_of("CONNECT", "http://a:80/").is_err());
    }

    #[test]
    fn absolute_form_requests_are_rewritten_to_origin_form_without_hop_headers() {
        let mut parts = request(
            "GET",
            "http://Example.com:8080/a/b?c=d",
            &[
                ("Host", "example.com:8080"),
                ("Proxy-Connection", "keep-alive"),
                ("Connection", "keep-alive, x-private"),
                ("X-Private", "secret"),
                ("Accept", "*/*"),
            ],
        );
        let Ok(Target::Forward {
            host,
            port,
            authority,
            origin,
        }) = target(&parts.method, &parts.uri)
        else {
            panic!("not a forward");
        };
        assert_eq!((host.as_str(), port), ("example.com", 8080));
        rewrite_request(&mut parts, &authority, origin).expect("valid host");
        assert_eq!(parts.uri.to_string(), "/a/b?c=d");
        assert_eq!(parts.headers["accept"], "*/*");
        assert_eq!(parts.headers["connection"], "close");
        assert_eq!(parts.headers["host"], "Example.com:8080");
        for gone in ["proxy-connection", "x-private", "keep-alive"] {
            assert!(!parts.headers.contains_key(gone), "{gone}: {parts:?}");
        }
    }

    #[test]
    fn the_clients_host_header_is_replaced_by_the_checked_target() {
        let mut parts = request(
            "GET",
            "http://allowed.example",
            &[("Host", "other.example"), ("hOsT", "third.example")],
        );
        let Ok(Target::Forward {
            authority, origin, ..
        }) = target(&parts.method, &parts.uri)
        else {
            panic!("not a forward");
        };
        rewrite_request(&mut parts, &authority, origin).expect("valid host");
        let hosts: Vec<_> = parts.headers.get_all("host").iter().collect();
        assert_eq!(hosts, ["allowed.example"]);
        assert_eq!(parts.uri.to_string(), "/");
    }

    #[test]
    fn origin_form_other_schemes_and_userinfo_are_refused() {
        assert_eq!(target_of("GET", "/x"), Err(TargetError::NotAbsoluteHttp));
        assert_eq!(
            target_of("GET", "https://a/"),
            Err(TargetError::NotAbsoluteHttp)
        );
        assert_eq!(
            target_of("GET", "ftp://a/"),
            Err(TargetError::NotAbsoluteHttp)
        );
        assert_eq!(
            target_of("GET", "http://user:pw@a/"),
            Err(TargetError::Credentials)
        );
        assert!(matches!(
            target_of("GET", "http://a_b!/"),
            Err(TargetError::Host(_))
        ));
    }

    #[test]
    fn response_lengths_are_left_to_the_relayed_body_except_on_head_answers() {
        let response = |headers: &[(&str, &str)]| {
            let mut b = hyper::Response::builder();
            for (n, v) in headers {
                b = b.header(*n, *v);
            }
            b.body(()).expect("valid response").into_parts().0
        };
        let mut plain = response(&[("Content-Length", "5"), ("Connection", "keep-alive")]);
        rewrite_response(&mut plain, false);
        assert!(plain.headers.is_empty(), "{plain:?}");
        let mut head = response(&[("Content-Length", "5"), ("Keep-Alive", "timeout=5")]);
        rewrite_response(&mut head, true);
        assert_eq!(head.headers.len(), 1, "{head:?}");
        assert_eq!(head.headers["content-length"], "5");
        let mut chunked = response(&[("Transfer-Encoding", "chunked"), ("Content-Length", "5")]);
        rewrite_response(&mut chunked, true);
        assert_eq!(chunked.headers.len(), 1, "{chunked:?}");
        assert_eq!(chunked.headers["transfer-encoding"], "chunked");
    }

    #[test]
    fn head_lengths_count_the_request_line_and_every_header() {
        let parts = request("GET", "/ab", &[("Host", "h")]);
        // "GET /ab HTTP/1.1\r\n" + "host: h\r\n" + "\r\n"
        assert_eq!(request_head_len(&parts), 18 + 9 + 2);
    }
}
