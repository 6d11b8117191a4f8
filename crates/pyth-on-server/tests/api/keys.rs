//! API-key management.

use crate::support::{assert_api_error, TestServer};

#[tokio::test]
async fn a_created_key_works_until_it_is_revoked() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let created = user.jwt.create_key("ci").await.unwrap();
    let key_client = server.client.with_api_key(&created.api_key);
    key_client.list_secrets().await.unwrap();
    let listed = user.jwt.list_keys().await.unwrap();
    assert_eq!(listed.keys.len(), 2);
    let entry = listed.keys.iter().find(|k| k.id == created.id).unwrap();
    assert!(created.api_key.starts_with(&entry.prefix));
    assert!(!serde_json::to_string(&listed)
        .unwrap()
        .contains(&created.api_key));
    user.jwt.revoke_key(created.id).await.unwrap();
    assert_api_error(key_client.list_secrets().await, 401, "unauthorized");
    assert_api_error(user.jwt.revoke_key(created.id).await, 404, "not_found");
    let actions: Vec<String> = user
        .jwt
        .audit(None, None, Some("key."))
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["key.revoke", "key.create"]);
}

#[tokio::test]
async fn key_management_needs_a_token_not_an_api_key() {
    let server = TestServer::start().await;
    let user = server.user().await;
    assert_api_error(user.key.list_keys().await, 403, "jwt_required");
    assert_api_error(user.key.create_key("x").await, 403, "jwt_required");
}

#[tokio::test]
async fn another_users_key_cannot_be_revoked_or_seen() {
    let server = TestServer::start().await;
    let alice = server.user().await;
    let bob = server.user().await;
    let created = alice.jwt.create_key("alice-ci").await.unwrap();
    assert_api_error(bob.jwt.revoke_key(created.id).await, 404, "not_found");
    assert!(bob
        .jwt
        .list_keys()
        .await
        .unwrap()
        .keys
        .iter()
        .all(|k| k.id != created.id));
    server
        .client
        .with_api_key(&created.api_key)
        .list_secrets()
        .await
        .unwrap();
}

#[tokio::test]
async fn key_names_must_be_short_and_printable() {
    let server = TestServer::start().await;
    let user = server.user().await;
    assert_api_error(user.jwt.create_key("").await, 400, "validation_failed");
    assert_api_error(
        user.jwt.create_key(&"k".repeat(65)).await,
        400,
        "validation_failed",
    );
    assert_api_error(
        user.jwt.create_key("a\u{7}b").await,
        400,
        "validation_failed",
    );
}

#[tokio::test]
async fn eighty_concurrent_key_creations_never_exceed_the_cap() {
    let server = TestServer::start().await;
    let user = server.user().await; // registration made the first key
    let tasks: Vec<_> = (0..80)
        .map(|i| {
            let jwt = user.jwt.clone();
            tokio::spawn(async move { jwt.create_key(&format!("race-{i}")).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            refused => {
                let body = assert_api_error(refused, 409, "too_many_keys");
                assert!(body.error.contains("at most 50"), "{body:?}");
            }
        }
    }
    let live = user.jwt.list_keys().await.unwrap().keys.len();
    assert_eq!(live, 50, "{created} created on top of the first key");
    assert_eq!(created, 49);
}

#[tokio::test]
async fn a_keys_last_use_is_recorded_once_and_not_rewritten_by_each_request_within_a_minute() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let created = user.jwt.create_key("busy").await.unwrap();
    let last_used = || async {
        let listed = user.jwt.list_keys().await.unwrap();
        listed
            .keys
            .into_iter()
            .find(|k| k.id == created.id)
            .unwrap()
            .last_used_at
    };
    assert_eq!(last_used().await, None, "never used yet");
    let key_client = server.client.with_api_key(&created.api_key);
    key_client.list_secrets().await.unwrap();
    // Recorded in the background: wait for it.
    let mut first = None;
    for _ in 0..200 {
        first = last_used().await;
        if first.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let first = first.expect("the first use is recorded");
    for _ in 0..5 {
        key_client.list_secrets().await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        last_used().await,
        Some(first),
        "not rewritten within a minute"
    );
}
