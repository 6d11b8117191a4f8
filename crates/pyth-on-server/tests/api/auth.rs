//! Registration, login, tokens and refresh-token rotation.

use reqwest::Method;

use crate::support::{assert_api_error, TestServer};

#[tokio::test]
async fn registering_returns_tokens_and_the_only_copy_of_an_api_key() {
    let server = TestServer::start().await;
    let auth = server
        .client
        .register("Ada@Example.com", "correct horse battery staple")
        .await
        .unwrap();
    assert_eq!(auth.user.email, "ada@example.com");
    assert_eq!(auth.token_type, "Bearer");
    assert!(auth.expires_in <= 900);
    let key = auth.api_key.expect("first key is shown");
    assert!(key.starts_with("pyo_"));
    // The key and the token both identify the user.
    let secrets = server
        .client
        .with_api_key(&key)
        .list_secrets()
        .await
        .unwrap();
    assert!(secrets.secrets.is_empty());
    server
        .client
        .with_token(&auth.token)
        .list_secrets()
        .await
        .unwrap();
    // Login never shows a key again.
    let login = server
        .client
        .login("ada@example.com", "correct horse battery staple")
        .await
        .unwrap();
    assert!(login.api_key.is_none());
}

#[tokio::test]
async fn registering_an_email_twice_in_any_case_is_a_conflict() {
    let server = TestServer::start().await;
    server
        .client
        .register("bob@example.com", "correct horse battery staple")
        .await
        .unwrap();
    let again = server
        .client
        .register("BOB@example.com", "another long password")
        .await;
    assert_api_error(again, 409, "email_taken");
}

#[tokio::test]
async fn registration_refuses_bad_emails_and_passwords() {
    let server = TestServer::start().await;
    let short = server.client.register("c@example.com", "short").await;
    let body = assert_api_error(short, 400, "validation_failed");
    assert!(body.details.unwrap().get("password").is_some());
    let long = server
        .client
        .register("c@example.com", &"x".repeat(1025))
        .await;
    assert_api_error(long, 400, "validation_failed");
    let email = server
        .client
        .register("not-an-email", "correct horse battery staple")
        .await;
    assert_api_error(email, 400, "validation_failed");
}

#[tokio::test]
async fn wrong_passwords_and_unknown_emails_get_the_same_answer() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let wrong = server
        .client
        .login(&user.email, "wrong password here")
        .await;
    let a = assert_api_error(wrong, 401, "invalid_credentials");
    let unknown = server
        .client
        .login("nobody@example.com", "wrong password here")
        .await;
    let b = assert_api_error(unknown, 401, "invalid_credentials");
    assert_eq!(a.error, b.error);
    // The failure is in the user's audit log.
    let page = user
        .key
        .audit(None, None, Some("auth.login_failed"))
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].outcome, "denied");
}

#[tokio::test]
async fn verify_accepts_a_token_in_the_header_or_the_body() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let via_body = server.client.verify(&user.auth.token).await.unwrap();
    assert!(via_body.valid);
    assert_eq!(via_body.user.email, user.email);
    let via_header: pyth_on_types::VerifyResponse = user
        .jwt
        .request(Method::POST, "/api/verify")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(via_header.user.id, user.auth.user.id);
}

#[tokio::test]
async fn tampered_and_unsigned_tokens_are_refused() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let token = &user.auth.token;
    // Flip one character of the signature.
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_api_error(server.client.verify(&tampered).await, 401, "unauthorized");
    assert_api_error(
        server.client.with_token(&tampered).list_secrets().await,
        401,
        "unauthorized",
    );
    // alg: none with the same claims.
    let parts: Vec<&str> = token.split('.').collect();
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    let unsigned = format!("{none_header}.{}.", parts[1]);
    assert_api_error(server.client.verify(&unsigned).await, 401, "unauthorized");
    assert_api_error(server.client.verify("garbage").await, 401, "unauthorized");
}

#[tokio::test]
async fn a_refresh_token_works_once_and_its_reuse_revokes_the_family() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let first = server
        .client
        .refresh(&user.auth.refresh_token)
        .await
        .unwrap();
    assert_ne!(first.refresh_token, user.auth.refresh_token);
    server
        .client
        .with_token(&first.token)
        .list_secrets()
        .await
        .unwrap();
    // Presenting the spent token again: 401, and the successor dies with its family.
    assert_api_error(
        server.client.refresh(&user.auth.refresh_token).await,
        401,
        "unauthorized",
    );
    assert_api_error(
        server.client.refresh(&first.refresh_token).await,
        401,
        "unauthorized",
    );
    let reuse = user
        .key
        .audit(None, None, Some("auth.refresh_reuse"))
        .await
        .unwrap();
    assert_eq!(reuse.entries.len(), 1);
    assert_api_error(
        server.client.refresh("pyr_not-a-real-token").await,
        401,
        "unauthorized",
    );
}

#[tokio::test]
async fn missing_and_malformed_credentials_are_unauthorized() {
    let server = TestServer::start().await;
    assert_api_error(server.client.list_secrets().await, 401, "unauthorized");
    assert_api_error(
        server.client.with_api_key("pyo_bad").list_secrets().await,
        401,
        "unauthorized",
    );
    let user = server.user().await;
    // A well-formed key that was never issued.
    let mut key = user.auth.api_key.clone().unwrap();
    key.replace_range(4..8, if &key[4..8] == "AAAA" { "BBBB" } else { "AAAA" });
    assert_api_error(
        server.client.with_api_key(&key).list_secrets().await,
        401,
        "unauthorized",
    );
}

#[tokio::test]
async fn the_auth_routes_are_rate_limited_per_client_address() {
    let server = TestServer::start_with(|s| s.auth_rate_limit_per_minute = 3).await;
    let mut last = None;
    for _ in 0..4 {
        last = Some(
            server
                .client
                .request(Method::POST, "/api/login")
                .json(
                    &serde_json::json!({"email": "x@example.com", "password": "whatever-password"}),
                )
                .send()
                .await
                .unwrap(),
        );
    }
    let response = last.unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(response.headers()["ratelimit-limit"], "3");
    assert_eq!(response.headers()["ratelimit-remaining"], "0");
    let body: pyth_on_types::ErrorBody = response.json().await.unwrap();
    assert_eq!(body.code, "rate_limited");
}

#[tokio::test]
async fn the_api_is_rate_limited_per_user_across_keys_and_tokens() {
    let server = TestServer::start_with(|s| s.rate_limit_per_minute = 4).await;
    let user = server.user().await;
    for _ in 0..2 {
        user.key.list_secrets().await.unwrap();
        user.jwt.list_secrets().await.unwrap();
    }
    let response = user
        .key
        .request(Method::GET, "/api/v1/secrets")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    // Another user is not affected.
    let other = server.user().await;
    let ok = other
        .key
        .request(Method::GET, "/api/v1/secrets")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["ratelimit-limit"], "4");
    assert_eq!(ok.headers()["ratelimit-remaining"], "3");
}

/// The server's signing key, as a deployment's key directory holds it.
fn signing_keys(server: &TestServer) -> (Vec<u8>, pyth_on_crypto::JwtKeys) {
    let hex_key = std::fs::read_to_string(server.dir.path().join("keys/jwt-signing.key")).unwrap();
    let secret = hex::decode(hex_key.trim()).unwrap();
    let keys = pyth_on_crypto::JwtKeys::new(&secret).unwrap();
    (secret, keys)
}

#[tokio::test]
async fn expired_wrong_algorithm_and_unknown_user_tokens_are_refused() {
    use base64::Engine;
    use hmac::Mac;
    let server = TestServer::start().await;
    let user = server.user().await;
    let (secret, keys) = signing_keys(&server);
    // Correctly signed, but expired an hour ago.
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(2);
    let expired = keys
        .issue(user.auth.user.id, past, time::Duration::minutes(15))
        .unwrap()
        .token;
    assert_api_error(server.client.verify(&expired).await, 401, "unauthorized");
    assert_api_error(
        server.client.with_token(&expired).list_secrets().await,
        401,
        "unauthorized",
    );
    // Correctly signed for a user that does not exist.
    let ghost = keys
        .issue(
            uuid::Uuid::now_v7(),
            time::OffsetDateTime::now_utc(),
            time::Duration::minutes(5),
        )
        .unwrap()
        .token;
    assert_api_error(server.client.verify(&ghost).await, 401, "unauthorized");
    assert_api_error(
        server.client.with_token(&ghost).list_secrets().await,
        401,
        "unauthorized",
    );
    // The same claims signed with the same key under HS384: the algorithm is pinned.
    let claims = user.auth.token.split('.').nth(1).unwrap().to_string();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"HS384","typ":"JWT"}"#);
    let mut mac = hmac::Hmac::<sha2::Sha384>::new_from_slice(&secret).unwrap();
    mac.update(format!("{header}.{claims}").as_bytes());
    let signature = b64.encode(mac.finalize().into_bytes());
    let hs384 = format!("{header}.{claims}.{signature}");
    assert_api_error(server.client.verify(&hs384).await, 401, "unauthorized");
    assert_api_error(
        server.client.with_token(&hs384).list_secrets().await,
        401,
        "unauthorized",
    );
    // And the genuine token still works.
    server.client.verify(&user.auth.token).await.unwrap();
}

/// `ratelimit-remaining` of a request to the secrets list.
async fn remaining(client: &pyth_on_client::Client) -> (u16, String) {
    let response = client
        .request(Method::GET, "/api/v1/secrets")
        .send()
        .await
        .unwrap();
    let left = response
        .headers()
        .get("ratelimit-remaining")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (response.status().as_u16(), left)
}

#[tokio::test]
async fn each_request_takes_one_cell_whether_its_key_is_known_to_the_node_or_not() {
    // The first request of a key looks its owner up, then takes the cell; later ones take it
    // beside the lookup (the node remembers the owner). Either way: one cell each.
    let server = TestServer::start_with(|s| s.rate_limit_per_minute = 10).await;
    let user = server.user().await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(remaining(&user.key).await);
    }
    seen.push(remaining(&user.jwt).await);
    let expected = ["9", "8", "7", "6"].map(|left| (200, left.to_string()));
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_revoked_key_is_refused_without_spending_its_former_owners_rate_limit() {
    // The node still remembers whose the key was, and takes that user's cell beside the
    // lookup; the lookup refuses the key, and the cell is given back.
    let server = TestServer::start_with(|s| s.rate_limit_per_minute = 6).await;
    let user = server.user().await;
    let created = user.jwt.create_key("soon revoked").await.unwrap();
    let key_client = server.client.with_api_key(&created.api_key);
    // Creating the key took a cell, this request another.
    assert_eq!(remaining(&key_client).await, (200, "4".to_string()));
    user.jwt.revoke_key(created.id).await.unwrap();
    for _ in 0..4 {
        assert_eq!(remaining(&key_client).await, (401, String::new()));
    }
    // The revoke took a cell, and this request one: none for the refused ones.
    assert_eq!(remaining(&user.jwt).await, (200, "2".to_string()));
}

#[tokio::test]
async fn a_signed_out_token_is_refused_without_spending_its_users_rate_limit() {
    // An access token outlives its sign-in until it expires; whoever still holds one must not
    // be able to keep its user's bucket busy.
    let server = TestServer::start_with(|s| s.rate_limit_per_minute = 6).await;
    let user = server.user().await;
    assert_eq!(remaining(&user.jwt).await, (200, "5".to_string()));
    server
        .client
        .logout(&user.auth.refresh_token)
        .await
        .unwrap();
    for _ in 0..4 {
        assert_eq!(remaining(&user.jwt).await, (401, String::new()));
    }
    assert_eq!(remaining(&user.key).await, (200, "4".to_string()));
}

#[tokio::test]
async fn fifty_concurrent_requests_with_a_known_key_get_exactly_the_limit() {
    // Every request after the first takes its cell beside the key's lookup: under concurrency
    // the bucket still admits exactly its size, and no cell taken is lost or taken twice.
    let server = TestServer::start_with(|s| s.rate_limit_per_minute = 20).await;
    let user = server.user().await;
    let started = std::time::Instant::now();
    assert_eq!(remaining(&user.key).await, (200, "19".to_string()));
    let answers = futures::future::join_all((0..50).map(|_| remaining(&user.key))).await;
    // A cell comes back every 3 s (20 a minute): on a slow machine, up to that many more.
    let regained = (started.elapsed().as_millis() / 3000) as usize;
    let admitted = answers.iter().filter(|(status, _)| *status == 200).count();
    let refused = answers.iter().filter(|(status, _)| *status == 429).count();
    assert_eq!(admitted + refused, 50, "{answers:?}");
    assert!(
        (19..=19 + regained).contains(&admitted),
        "{admitted} admitted: {answers:?}"
    );
}
