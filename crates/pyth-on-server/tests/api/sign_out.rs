//! Signing out (`POST /api/logout`) and the refresh cookie browsers keep their refresh token
//! in: HttpOnly, Secure, SameSite=Strict, read only with the opt-in header (the CSRF guard),
//! rotated on refresh and deleted on sign-out, which revokes the sign-in's whole family.

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::support::TestServer;

const OPT_IN: (&str, &str) = ("x-pyth-on-cookie", "refresh");

/// `POST path` with `body`, the opt-in header when `opt_in`, and `cookie` when given.
async fn post(
    server: &TestServer,
    path: &str,
    body: Value,
    opt_in: bool,
    cookie: Option<&str>,
) -> Response {
    let mut request = reqwest::Client::new().post(server.url(path)).json(&body);
    if opt_in {
        request = request.header(OPT_IN.0, OPT_IN.1);
    }
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, format!("pyth_on_refresh={cookie}"));
    }
    request.send().await.unwrap()
}

/// The refresh cookie's value and attributes from a response.
fn cookie_of(response: &Response) -> (String, String) {
    let header = response
        .headers()
        .get(SET_COOKIE)
        .expect("a Set-Cookie")
        .to_str()
        .unwrap();
    let (pair, attributes) = header.split_once(';').unwrap();
    let value = pair.strip_prefix("pyth_on_refresh=").unwrap().to_string();
    (value, attributes.trim().to_string())
}

const ADA: &str = r#"{"email":"ada@example.com","password":"correct horse battery staple"}"#;

/// Registers Ada as the console does (the refresh token into the cookie).
async fn register_in_browser(server: &TestServer) -> Response {
    post(
        server,
        "/api/register",
        serde_json::from_str(ADA).unwrap(),
        true,
        None,
    )
    .await
}

/// `POST /api/refresh` with the cookie `token` (and the opt-in header when `opt_in`).
async fn refresh_by_cookie(server: &TestServer, token: &str, opt_in: bool) -> Response {
    post(
        server,
        "/api/refresh",
        json!({ "refreshToken": "" }),
        opt_in,
        Some(token),
    )
    .await
}

#[tokio::test]
async fn a_browser_keeps_its_refresh_token_in_an_http_only_cookie_that_scripts_never_see() {
    let server = TestServer::start().await;
    let registered = register_in_browser(&server).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let (token, attributes) = cookie_of(&registered);
    assert_eq!(
        attributes,
        "HttpOnly; Secure; SameSite=Strict; Path=/api; Max-Age=2592000"
    );
    let body: Value = registered.json().await.unwrap();
    assert_eq!(body["refreshToken"], "", "not in the JSON a script reads");
    assert!(body["token"].as_str().is_some_and(|t| !t.is_empty()));

    let refreshed = refresh_by_cookie(&server, &token, true).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let (next, _) = cookie_of(&refreshed);
    assert_ne!(next, token, "rotated");
    let again = refresh_by_cookie(&server, &token, true).await;
    assert_eq!(
        again.status(),
        StatusCode::UNAUTHORIZED,
        "the spent one is refused"
    );
}

#[tokio::test]
async fn the_cookie_is_ignored_without_the_opt_in_header() {
    let server = TestServer::start().await;
    let login = register_in_browser(&server).await;
    let (token, _) = cookie_of(&login);
    // A cross-site form or fetch cannot add the header: the cookie alone does nothing.
    let refreshed = refresh_by_cookie(&server, &token, false).await;
    assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED);
    let out = post(&server, "/api/logout", json!({}), false, Some(&token)).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let still = refresh_by_cookie(&server, &token, true).await;
    assert_eq!(still.status(), StatusCode::OK, "the sign-in was not ended");
}

#[tokio::test]
async fn signing_out_revokes_the_sign_in_deletes_the_cookie_and_is_audited_but_not_other_sign_ins()
{
    let server = TestServer::start().await;
    let browser = register_in_browser(&server).await;
    let (token, _) = cookie_of(&browser);
    let access = browser.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let laptop = server
        .client
        .login("ada@example.com", "correct horse battery staple")
        .await
        .unwrap();

    let out = post(&server, "/api/logout", json!({}), true, Some(&token)).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let (cleared, attributes) = cookie_of(&out);
    assert_eq!(
        (cleared.as_str(), attributes.ends_with("Max-Age=0")),
        ("", true)
    );
    let refused = refresh_by_cookie(&server, &token, true).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        server.client.refresh(&laptop.refresh_token).await.is_ok(),
        "another sign-in lives on"
    );
    let twice = post(&server, "/api/logout", json!({}), true, Some(&token)).await;
    assert_eq!(
        twice.status(),
        StatusCode::NO_CONTENT,
        "signing out twice is no error"
    );

    let by_body = server
        .client
        .login("ada@example.com", "correct horse battery staple")
        .await
        .unwrap();
    server.client.logout(&by_body.refresh_token).await.unwrap();
    assert!(server.client.refresh(&by_body.refresh_token).await.is_err());
    // The ended sign-in's access token ended with it; another sign-in reads the log.
    let ended = server.client.with_token(&access).me().await;
    assert!(ended.is_err(), "an ended sign-in's access token is refused");
    let page = server
        .client
        .with_token(&laptop.token)
        .audit(Some(20), None, Some("auth.logout"))
        .await
        .unwrap();
    assert_eq!(
        page.entries.len(),
        2,
        "one entry per sign-in ended, none for the repeat"
    );
    let bad = post(&server, "/api/logout", json!({ "token": 1 }), false, None).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}
