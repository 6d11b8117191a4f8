//! The API reference page at `/docs`: plain HTML rendered once, at start-up, from the very
//! OpenAPI document `/api/openapi.json` serves, with its stylesheet at `/docs/reference.css`.
//! No script at all, the console's strict CSP and security headers, headings and landmarks for
//! screen readers, tables with captions and header cells, colours that pass WCAG AA in light
//! and dark mode: axe-core finds nothing on it (the console's end-to-end suite checks).
//!
//! It replaced Swagger UI, whose page failed axe-core in ways only a fork could fix (controls
//! nested in controls, contrast of its method badges, no `main` landmark or `h1`) and which
//! needed a 1.5 MB vendored bundle. Trying requests is what the console, `curl` and the
//! clients are for; the page is for reading.

mod render;

use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// The page's stylesheet (`/docs/reference.css`).
const STYLESHEET: &str = include_str!("reference.css");

/// Routes of the reference page (`/docs` and `/docs/`) and its stylesheet, the page rendered
/// from `document` (the OpenAPI document as JSON).
pub fn router(document: &serde_json::Value) -> Router<AppState> {
    let page: Arc<str> = render::page(document).into();
    let html = move || {
        let page = page.clone();
        async move {
            let kind = [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(crate::console::REVALIDATE),
                ),
            ];
            (kind, crate::console::security_headers(), page.to_string())
        }
    };
    let css = || async {
        let kind = [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(crate::console::REVALIDATE),
            ),
        ];
        (kind, crate::console::security_headers(), STYLESHEET).into_response()
    };
    Router::new()
        .route("/docs", get(html.clone()))
        .route("/docs/", get(html))
        .route("/docs/reference.css", get(css))
}
