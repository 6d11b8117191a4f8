//! The audit log: paging, filtering, isolation and chain verification.

use crate::support::{assert_api_error, TestServer};

#[tokio::test]
async fn the_audit_log_pages_newest_first_and_verifies() {
    let server = TestServer::start().await;
    let user = server.user().await;
    for i in 0..5 {
        user.key
            .put_secret(&format!("S{i}"), "value-xyz")
            .await
            .unwrap();
    }
    let first = user.key.audit(Some(3), None, None).await.unwrap();
    assert_eq!(first.entries.len(), 3);
    assert_eq!(first.entries[0].resource.as_deref(), Some("S4"));
    assert_eq!(first.entries[0].prev_hash, first.entries[1].hash);
    let cursor = first.next_cursor.clone().expect("more pages");
    let second = user.key.audit(Some(3), Some(&cursor), None).await.unwrap();
    assert_eq!(second.entries.len(), 3);
    assert_eq!(second.entries.last().unwrap().action, "auth.register");
    assert!(second.next_cursor.is_none());
    assert_eq!(second.entries[0].hash, first.entries[2].prev_hash);
    let entry = &first.entries[0];
    assert_eq!(entry.auth_method.as_deref(), Some("api_key"));
    assert!(entry.api_key_id.is_some());
    assert_eq!(entry.ip.as_deref(), Some("127.0.0.1"));
    let verification = user.key.verify_audit().await.unwrap();
    assert!(verification.valid);
    assert_eq!(verification.entries, 6);
    assert_eq!(verification.head, first.entries[0].hash);
}

#[tokio::test]
async fn audit_entries_never_hold_credentials_or_code() {
    let server = TestServer::start().await;
    let user = server.user().await;
    user.key
        .put_secret("TOKEN", "secret-value-123")
        .await
        .unwrap();
    user.key
        .execute(&pyth_on_types::ExecuteRequest {
            code: "print('code-canary-77')".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let _ = server.client.login(&user.email, "a wrong password!").await;
    let page = user.key.audit(Some(200), None, None).await.unwrap();
    let raw = serde_json::to_string(&page).unwrap();
    for needle in [
        "secret-value-123",
        "code-canary-77",
        "correct horse",
        "a wrong password",
        user.auth.api_key.as_deref().unwrap(),
        &user.auth.token,
        &user.auth.refresh_token,
    ] {
        assert!(!raw.contains(needle), "audit log contains {needle}");
    }
    let exec = page.entries.iter().find(|e| e.action == "execute").unwrap();
    assert_eq!(exec.details["codeSize"], "print('code-canary-77')".len());
    assert_eq!(exec.details["codeSha256"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn a_user_sees_only_their_own_audit_entries() {
    let server = TestServer::start().await;
    let alice = server.user().await;
    let bob = server.user().await;
    alice.key.put_secret("ALICE", "value-a").await.unwrap();
    let bob_page = bob.key.audit(None, None, None).await.unwrap();
    assert!(bob_page
        .entries
        .iter()
        .all(|e| e.resource.as_deref() != Some("ALICE")));
    assert_eq!(bob_page.entries.len(), 1);
}

#[tokio::test]
async fn the_action_filter_is_a_literal_prefix() {
    let server = TestServer::start().await;
    let user = server.user().await;
    user.key.put_secret("X1", "value-1").await.unwrap();
    assert_eq!(
        user.key
            .audit(None, None, Some("secret."))
            .await
            .unwrap()
            .entries
            .len(),
        1
    );
    assert_eq!(
        user.key
            .audit(None, None, Some("%"))
            .await
            .unwrap()
            .entries
            .len(),
        0
    );
    assert_eq!(
        user.key
            .audit(None, None, Some("auth._egister"))
            .await
            .unwrap()
            .entries
            .len(),
        0
    );
}

#[tokio::test]
async fn bad_audit_queries_are_refused() {
    let server = TestServer::start().await;
    let user = server.user().await;
    assert_api_error(
        user.key.audit(Some(0), None, None).await,
        400,
        "validation_failed",
    );
    assert_api_error(
        user.key.audit(Some(201), None, None).await,
        400,
        "validation_failed",
    );
    assert_api_error(
        user.key.audit(None, Some("abc"), None).await,
        400,
        "validation_failed",
    );
    let unknown = user
        .key
        .request(reqwest::Method::GET, "/api/v1/audit?bogus=1")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
}
