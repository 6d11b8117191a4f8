//! Strict, bounded parsing of the proxy's request heads and the upstream's response heads
//! (httparse): at most [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`], HTTP/1.x only, and the
//! rewriting a forward proxy must do (origin-form request line, hop-by-hop headers dropped,
//! `Connection: close` both ways so every request is a new connection and a new policy check).

use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest request or response head accepted.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// Most header lines accepted.
pub const MAX_HEADERS: usize = 100;

/// Why a head was rejected.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The peer closed before a complete head.
    #[error("connection closed before a complete head")]
    Closed,
    /// Longer than [`MAX_HEAD_BYTES`].
    #[error("head larger than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    /// Not valid HTTP/1.x.
    #[error("malformed head: {0}")]
    Malformed(String),
    /// Reading failed.
    #[error("reading the head: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads until the end of a head (`\r\n\r\n`); returns the head and whatever followed it.
pub async fn read_head<R: AsyncRead + Unpin>(r: &mut R) -> Result<(Vec<u8>, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            let end = from + i + 4;
            if end > MAX_HEAD_BYTES {
                return Err(HeadError::TooLarge);
            }
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
    }
}

/// Where a request wants to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `CONNECT host:port`: a tunnel.
    Connect {
        /// Host as written (brackets removed).
        host: String,
        /// Port.
        port: u16,
    },
    /// `GET http://host[:port]/path`: forward, with this head rewritten for the origin.
    Forward {
        /// Host as written.
        host: String,
        /// Port (80 by default).
        port: u16,
        /// The head to send upstream.
        head: Vec<u8>,
        /// A `HEAD` request (its response has no body whatever it says).
        is_head: bool,
    },
}

/// How the body of an upstream response ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (`HEAD`, 204, 304).
    Empty,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// When the upstream closes (chunked or unframed; we asked for `Connection: close`).
    UntilClose,
    /// An interim 1xx answer: another head follows.
    Interim,
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

/// Parses a client's request head into a [`Target`].
pub fn parse_request(head: &[u8]) -> Result<Target, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HeadError::Malformed("incomplete".into())),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    }
    let method = req.method.unwrap_or_default();
    let path = req.path.unwrap_or_default();
    if method == "CONNECT" {
        let (host, port) = split_authority(path, None)
            .ok_or_else(|| HeadError::Malformed(format!("bad CONNECT authority {path:?}")))?;
        return Ok(Target::Connect { host, port });
    }
    let rest = path
        .strip_prefix("http://")
        .or_else(|| {
            path.get(..7)
                .filter(|p| p.eq_ignore_ascii_case("http://"))
                .map(|_| &path[7..])
        })
        .ok_or_else(|| {
            HeadError::Malformed(
                "expected an absolute http:// URL (use CONNECT for https)".to_string(),
            )
        })?;
    let (authority, origin_path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.contains('@') {
        return Err(HeadError::Malformed("credentials in the URL".into()));
    }
    let (host, port) = split_authority(authority, Some(80))
        .ok_or_else(|| HeadError::Malformed(format!("bad host {authority:?}")))?;
    // The Host header is always the checked target's (RFC 9112 §3.2.2: a proxy replaces it):
    // forwarding the client's own would let a program reach any virtual host behind an
    // allowed address (domain fronting past the allow-list).
    let mut out = format!("{method} {origin_path} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&name.as_str()) || name == "host" {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    Ok(Target::Forward {
        host,
        port,
        head: out,
        is_head: method == "HEAD",
    })
}

/// Rewrites an upstream response head to end the client's connection after it, and says how
/// its body ends.
pub fn rewrite_response(head: &[u8], is_head: bool) -> Result<(Vec<u8>, Framing), HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    match res.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HeadError::Malformed("incomplete".into())),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    }
    let code = res.code.unwrap_or(502);
    let reason = res.reason.unwrap_or("");
    let mut out = format!("HTTP/1.1 {code} {reason}\r\n").into_bytes();
    let mut length = None;
    let mut chunked = false;
    for h in res.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        if name == "content-length" {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| HeadError::Malformed("bad Content-Length".into()))?;
            if length.is_some_and(|l| l != n) {
                return Err(HeadError::Malformed("conflicting Content-Length".into()));
            }
            length = Some(n);
        }
        chunked |= name == "transfer-encoding";
        if HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    let framing = match code {
        100..=199 if code != 101 => {
            out.extend_from_slice(b"\r\n");
            return Ok((out, Framing::Interim));
        }
        204 | 304 => Framing::Empty,
        _ if is_head => Framing::Empty,
        _ if chunked => Framing::UntilClose,
        _ => length.map_or(Framing::UntilClose, Framing::Length),
    };
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    Ok((out, framing))
}

/// A complete plain-text answer from the proxy itself.
pub fn answer(status: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\nX-Pyth-On-Egress: refused\r\n\r\n{body}\n",
        body.len() + 1
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_heads_give_the_authority_in_both_families() {
        let t = parse_request(b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            t.expect("valid"),
            Target::Connect {
                host: "example.com".into(),
                port: 443
            }
        );
        let t = parse_request(b"CONNECT [::1]:8443 HTTP/1.1\r\n\r\n").expect("valid");
        assert_eq!(
            t,
            Target::Connect {
                host: "::1".into(),
                port: 8443
            }
        );
        assert!(parse_request(b"CONNECT example.com HTTP/1.1\r\n\r\n").is_err());
        assert!(parse_request(b"CONNECT a:0 HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn absolute_form_requests_are_rewritten_to_origin_form_without_hop_headers() {
        let head = b"GET http://Example.com:8080/a/b?c=d HTTP/1.1\r\nHost: example.com:8080\r\n\
                     Proxy-Connection: keep-alive\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n";
        let Target::Forward {
            host, port, head, ..
        } = parse_request(head).expect("valid")
        else {
            panic!("not a forward");
        };
        assert_eq!((host.as_str(), port), ("example.com", 8080));
        let text = String::from_utf8(head).expect("ascii");
        assert!(text.starts_with("GET /a/b?c=d HTTP/1.1\r\n"), "{text}");
        assert!(text.contains("Accept: */*\r\n"));
        assert!(!text.to_ascii_lowercase().contains("keep-alive"));
        assert!(text.ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn the_clients_host_header_is_replaced_by_the_checked_target() {
        let head = b"GET http://allowed.example/ HTTP/1.1\r\nHost: other.example\r\n\
                     hOsT: third.example\r\nAccept: */*\r\n\r\n";
        let Target::Forward { head, .. } = parse_request(head).expect("valid") else {
            panic!("not a forward");
        };
        let text = String::from_utf8(head).expect("ascii");
        assert!(
            text.starts_with("GET / HTTP/1.1\r\nHost: allowed.example\r\n"),
            "{text}"
        );
        assert_eq!(
            text.to_ascii_lowercase().matches("host:").count(),
            1,
            "{text}"
        );
        assert!(!text.contains("other.example") && !text.contains("third.example"));
    }

    #[test]
    fn origin_form_https_urls_userinfo_and_garbage_are_refused() {
        for head in [
            &b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET https://a/ HTTP/1.1\r\n\r\n",
            b"GET http://user:pw@a/ HTTP/1.1\r\n\r\n",
            b"GET http://a b/ HTTP/1.1\r\n\r\n",
            b"\x00\x01garbage\r\n\r\n",
        ] {
            assert!(
                parse_request(head).is_err(),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn response_heads_say_how_their_body_ends() {
        let f = |h: &[u8], is_head| rewrite_response(h, is_head).map(|(_, f)| f).ok();
        assert_eq!(
            f(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false),
            Some(Framing::Length(5))
        );
        assert_eq!(
            f(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true),
            Some(Framing::Empty)
        );
        assert_eq!(
            f(b"HTTP/1.1 204 No Content\r\n\r\n", false),
            Some(Framing::Empty)
        );
        assert_eq!(
            f(b"HTTP/1.1 100 Continue\r\n\r\n", false),
            Some(Framing::Interim)
        );
        assert_eq!(
            f(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                false
            ),
            Some(Framing::UntilClose)
        );
        assert_eq!(
            f(b"HTTP/1.0 200 OK\r\n\r\n", false),
            Some(Framing::UntilClose)
        );
        assert_eq!(
            f(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                false
            ),
            None
        );
        let (head, _) = rewrite_response(
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n",
            false,
        )
        .expect("valid");
        assert_eq!(head, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    }

    #[tokio::test]
    async fn heads_are_read_up_to_the_blank_line_and_bounded() {
        let mut input: &[u8] = b"GET http://a/ HTTP/1.1\r\n\r\nBODY";
        let (head, rest) = read_head(&mut input).await.expect("complete");
        assert!(head.ends_with(b"\r\n\r\n"));
        assert_eq!(rest, b"BODY");
        let big = vec![b'a'; MAX_HEAD_BYTES + 10];
        let mut input: &[u8] = &big;
        assert!(matches!(
            read_head(&mut input).await,
            Err(HeadError::TooLarge)
        ));
        let mut input: &[u8] = b"GET / HTTP/1.1\r\n";
        assert!(matches!(
            read_head(&mut input).await,
            Err(HeadError::Closed)
        ));
    }
}
