//! The web console: served at `/` from the binary with a strict Content-Security-Policy, its
//! assets with the right types and caching, and off when `PYTH_ON_CONSOLE` says so.

use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use reqwest::StatusCode;

use crate::support::TestServer;

/// The CSP directives of a response, as `name -> sources`.
fn directives(csp: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    csp.split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace();
            let name = words.next()?.to_string();
            Some((name, words.map(str::to_string).collect()))
        })
        .collect()
}

/// The `/assets/...` paths that `index.html` loads.
fn asset_paths(html: &str) -> Vec<String> {
    html.split("\"/assets/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|file| format!("/assets/{file}"))
        .collect()
}

#[tokio::test]
async fn the_console_page_is_served_at_the_root_with_a_strict_content_security_policy() {
    // Arrange
    let server = TestServer::start().await;
    // Act
    let response = reqwest::get(server.url("/")).await.unwrap();
    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[CACHE_CONTROL], "no-cache");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let csp = directives(headers[CONTENT_SECURITY_POLICY].to_str().unwrap());
    assert_eq!(csp["default-src"], ["'none'"]);
    assert_eq!(csp["script-src"], ["'self'", "'wasm-unsafe-eval'"]);
    assert_eq!(csp["style-src"], ["'self'"]);
    assert_eq!(csp["connect-src"], ["'self'"]);
    assert_eq!(csp["frame-ancestors"], ["'none'"]);
    assert_eq!(csp["object-src"], ["'none'"]);
    assert_eq!(csp["base-uri"], ["'none'"]);
    for (name, sources) in &csp {
        for source in sources {
            assert!(
                !source.contains("unsafe-inline")
                    && source != "'unsafe-eval'"
                    && !source.contains(':')
                    && source != "*",
                "{name} allows {source}"
            );
        }
    }
    let html = response.text().await.unwrap();
    assert!(html.contains("<title>Pyth-On console</title>"), "{html}");
    assert!(!asset_paths(&html).is_empty(), "{html}");
}

#[tokio::test]
async fn hashed_assets_have_their_media_type_and_are_cached_for_a_year() {
    // Arrange
    let server = TestServer::start().await;
    let html = reqwest::get(server.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let assets = asset_paths(&html);
    assert!(assets.iter().any(|a| a.ends_with(".js")), "{assets:?}");
    assert!(assets.iter().any(|a| a.ends_with(".css")), "{assets:?}");
    for asset in assets {
        // Act
        let response = reqwest::get(server.url(&asset)).await.unwrap();
        // Assert
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let expected = if asset.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(response.headers()[CONTENT_TYPE], expected, "{asset}");
        assert_eq!(
            response.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable",
            "{asset}"
        );
        assert!(response.headers().contains_key(CONTENT_SECURITY_POLICY));
        assert!(!response.bytes().await.unwrap().is_empty(), "{asset}");
    }
    let icon = reqwest::get(server.url("/favicon.svg")).await.unwrap();
    assert_eq!(icon.headers()[CONTENT_TYPE], "image/svg+xml");
    assert_eq!(icon.headers()[CACHE_CONTROL], "no-cache");
    assert_eq!(
        icon.headers()["cross-origin-resource-policy"],
        "same-origin"
    );
    // The sandboxed (opaque-origin) frames of HTML results fetch their stylesheet.
    let frame = reqwest::get(server.url("/result-frame.css")).await.unwrap();
    assert_eq!(frame.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(
        frame.headers()["cross-origin-resource-policy"],
        "cross-origin"
    );
    assert!(frame.headers().contains_key(CONTENT_SECURITY_POLICY));
}

#[tokio::test]
async fn unknown_paths_beside_the_console_still_get_the_json_error_envelope() {
    let server = TestServer::start().await;
    for path in ["/api/v1/nope", "/api/nope", "/assets/missing.js", "/run"] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: pyth_on_types::ErrorBody = response.json().await.unwrap();
        assert_eq!(body.code, "not_found", "{path}");
    }
    let info = server.client.info().await.unwrap();
    assert!(info.features.console);
}

#[tokio::test]
async fn with_the_console_turned_off_the_root_is_a_json_404_and_info_says_so() {
    // Arrange
    let server = TestServer::start_with(|s| s.console = false).await;
    // Act
    let response = reqwest::get(server.url("/")).await.unwrap();
    // Assert
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(!response.headers().contains_key(CONTENT_SECURITY_POLICY));
    let body: pyth_on_types::ErrorBody = response.json().await.unwrap();
    assert_eq!(body.code, "not_found");
    let info = server.client.info().await.unwrap();
    assert!(!info.features.console);
}

#[test]
fn the_console_setting_reads_on_and_off_from_the_environment_style_values() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: pyth_on_server::Settings,
    }
    let parse = |args: &[&str]| Cli::parse_from(args).settings.console;
    assert!(parse(&["pyth-on"]));
    assert!(!parse(&["pyth-on", "--console", "off"]));
    assert!(!parse(&["pyth-on", "--console", "false"]));
    assert!(parse(&["pyth-on", "--console", "on"]));
}
