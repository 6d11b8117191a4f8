//! The web console: a single-page app built from `console/` into `console-dist/`, embedded at
//! compile time (see `build.rs`) and served at `/` when `PYTH_ON_CONSOLE` is on.
//!
//! It talks to the server only through the public API. Every console response carries a strict
//! Content-Security-Policy: scripts, styles and connections from this origin only, no inline
//! code, no framing. `'wasm-unsafe-eval'` is there because the zkcode client compiles its
//! Argon2id WebAssembly module in the page; it allows WebAssembly compilation, not `eval`.
//! Routing inside the app uses the URL fragment, so the server serves only the built files:
//! every other path, `/api/...` included, keeps the JSON error envelope.

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

/// The Content-Security-Policy of every console response.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

/// `Cache-Control` of content-hashed files under `assets/`: their name changes with their bytes.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `Cache-Control` of everything else (`index.html`, the icon): revalidate every time.
pub const REVALIDATE: &str = "no-cache";

/// The embedded files: path relative to the console root, and contents.
pub fn assets() -> &'static [(&'static str, &'static [u8])] {
    embedded::ASSETS
}

/// The media type for a file name, by extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// One embedded file with its type, caching and security headers.
fn respond(path: &'static str, body: &'static [u8]) -> Response {
    let cache = if path.starts_with("assets/") {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let kind = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(path)),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
    ];
    let mut security = security_headers();
    if path == FRAME_STYLESHEET {
        // Fetched by the sandboxed frames of HTML results, whose origin is opaque: a
        // `same-origin` resource policy would refuse it to them.
        for (name, value) in &mut security {
            if name.as_str() == "cross-origin-resource-policy" {
                *value = HeaderValue::from_static("cross-origin");
            }
        }
    }
    (kind, security, body).into_response()
}

/// The stylesheet of a session cell's HTML result, inside its sandboxed frame.
pub const FRAME_STYLESHEET: &str = "result-frame.css";

/// The security headers of every console response (and of the API reference page, `/docs`):
/// the CSP, no sniffing, no framing, no referrer, isolation from other origins.
pub fn security_headers() -> [(HeaderName, HeaderValue); 7] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
        ),
    ]
}

/// Routes for every embedded file: `index.html` at `/`, the rest at `/<path>`.
pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for &(path, body) in assets() {
        let route = if path == "index.html" {
            "/".to_string()
        } else {
            format!("/{path}")
        };
        router = router.route(&route, get(move || async move { respond(path, body) }));
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_console_is_embedded_with_an_index_page_and_hashed_assets() {
        let paths: Vec<&str> = assets().iter().map(|(p, _)| *p).collect();
        assert!(paths.contains(&"index.html"), "{paths:?}");
        assert!(
            paths
                .iter()
                .any(|p| p.starts_with("assets/") && p.ends_with(".js")),
            "{paths:?}"
        );
    }

    #[test]
    fn the_index_page_loads_no_inline_script_and_nothing_from_another_origin() {
        let (_, index) = assets()
            .iter()
            .find(|(p, _)| *p == "index.html")
            .expect("index.html");
        let html = std::str::from_utf8(index).expect("UTF-8");
        for tag in html.split("<script").skip(1) {
            let open = tag.split('>').next().unwrap_or_default();
            assert!(
                open.contains("src=\"/assets/"),
                "inline or foreign script: {open}"
            );
        }
        assert!(!html.contains("style="), "{html}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{html}"
        );
    }

    #[test]
    fn media_types_follow_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/index-abc.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("assets/index-abc.css"),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("blob"), "application/octet-stream");
    }
}
