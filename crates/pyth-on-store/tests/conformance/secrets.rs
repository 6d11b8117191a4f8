//! `SecretStore` scenarios: versions, quota, isolation, deletion, key rotation.

use pyth_on_store::Constraint;
use std::sync::Arc;

use pyth_on_store::{PutOutcome, Store};
use time::Duration;

use crate::support::{actions, event, now, registered, sealed};

const QUOTA: u32 = 50;

pub async fn creating_a_secret_stores_version_one(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let row = sealed(user.id, "DB_URL", b"sealed-1");

    // Act
    let outcome = store
        .put_secret(&row, None, QUOTA, &event(user.id, "secret.put"))
        .await
        .unwrap();

    // Assert
    assert_eq!(outcome, PutOutcome::Created);
    let stored = store.get_secret(user.id, "DB_URL").await.unwrap().unwrap();
    assert_eq!(stored, pyth_on_store::SealedSecretRow { version: 1, ..row });
    let meta = store.list_secrets(user.id).await.unwrap();
    assert_eq!(meta.len(), 1);
    assert_eq!((meta[0].name.as_str(), meta[0].version), ("DB_URL", 1));
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "secret.put"]
    );
}

pub async fn replacing_a_secret_bumps_the_version_and_keeps_created_at(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let mut first = sealed(user.id, "TOKEN", b"old");
    first.created_at = now() - Duration::hours(1);
    first.updated_at = first.created_at;
    store
        .put_secret(&first, None, QUOTA, &event(user.id, "secret.put"))
        .await
        .unwrap();
    let mut second = sealed(user.id, "TOKEN", b"new");
    second.key_version = 2;
    second.nonce = vec![1; 12];

    // Act
    let outcome = store
        .put_secret(&second, Some(1), QUOTA, &event(user.id, "secret.put"))
        .await
        .unwrap();

    // Assert
    assert_eq!(outcome, PutOutcome::Replaced);
    let stored = store.get_secret(user.id, "TOKEN").await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.ciphertext, b"new");
    assert_eq!(stored.key_version, 2);
    assert_eq!(stored.nonce, vec![1; 12]);
    assert_eq!(stored.created_at, first.created_at);
    assert_eq!(stored.updated_at, second.updated_at);
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "secret.put", "secret.put"]
    );
}

pub async fn a_stale_expected_version_is_a_conflict_and_changes_nothing(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let row = sealed(user.id, "KEY", b"v1");
    store
        .put_secret(&row, None, QUOTA, &event(user.id, "secret.put"))
        .await
        .unwrap();
    let attempt = sealed(user.id, "KEY", b"v2");

    // Act
    let created_twice = store
        .put_secret(&attempt, None, QUOTA, &event(user.id, "secret.put"))
        .await
        .expect_err("exists already");
    let stale = store
        .put_secret(&attempt, Some(7), QUOTA, &event(user.id, "secret.put"))
        .await
        .expect_err("stale version");
    let missing = store
        .put_secret(
            &sealed(user.id, "OTHER", b"x"),
            Some(1),
            QUOTA,
            &event(user.id, "secret.put"),
        )
        .await
        .expect_err("missing secret");

    // Assert
    for err in [created_twice, stale, missing] {
        assert!(err.is_conflict_on(Constraint::SecretVersion), "{err:?}");
    }
    let stored = store.get_secret(user.id, "KEY").await.unwrap().unwrap();
    assert_eq!(
        (stored.version, stored.ciphertext.as_slice()),
        (1, &b"v1"[..])
    );
    assert!(store.get_secret(user.id, "OTHER").await.unwrap().is_none());
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "secret.put"]
    );
}

pub async fn the_quota_refuses_new_secrets_but_allows_replacing(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    for name in ["A", "B"] {
        store
            .put_secret(
                &sealed(user.id, name, b"x"),
                None,
                2,
                &event(user.id, "secret.put"),
            )
            .await
            .unwrap();
    }

    // Act
    let third = store
        .put_secret(
            &sealed(user.id, "C", b"x"),
            None,
            2,
            &event(user.id, "secret.put"),
        )
        .await
        .expect_err("over quota");
    let replaced = store
        .put_secret(
            &sealed(user.id, "A", b"y"),
            Some(1),
            2,
            &event(user.id, "secret.put"),
        )
        .await
        .unwrap();

    // Assert
    assert!(third.is_conflict_on(Constraint::SecretQuota), "{third:?}");
    assert_eq!(replaced, PutOutcome::Replaced);
    assert_eq!(store.list_secrets(user.id).await.unwrap().len(), 2);
    assert_eq!(actions(&store, user.id).await.len(), 4);
}

pub async fn secrets_are_isolated_between_users(store: Arc<dyn Store>) {
    // Arrange
    let ada = registered(&store, "ada@example.com").await;
    let eve = registered(&store, "eve@example.com").await;
    store
        .put_secret(
            &sealed(ada.id, "SHARED_NAME", b"ada"),
            None,
            1,
            &event(ada.id, "secret.put"),
        )
        .await
        .unwrap();

    // Act: the same name is a different secret for eve, within her own quota.
    let eves = store
        .put_secret(
            &sealed(eve.id, "SHARED_NAME", b"eve"),
            None,
            1,
            &event(eve.id, "secret.put"),
        )
        .await
        .unwrap();
    let deleted_by_eve = store
        .delete_secret(eve.id, "SHARED_NAME", &event(eve.id, "secret.delete"))
        .await
        .unwrap();

    // Assert
    assert_eq!(eves, PutOutcome::Created);
    assert!(deleted_by_eve);
    let adas = store
        .get_secret(ada.id, "SHARED_NAME")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(adas.ciphertext, b"ada");
    assert!(store
        .get_secret(eve.id, "SHARED_NAME")
        .await
        .unwrap()
        .is_none());
    assert!(store.list_secrets(eve.id).await.unwrap().is_empty());
    assert!(store.sealed_secrets_for(eve.id).await.unwrap().is_empty());
    assert_eq!(store.sealed_secrets_for(ada.id).await.unwrap().len(), 1);
}

pub async fn deleting_a_secret_audits_once_and_reports_a_missing_one(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    store
        .put_secret(
            &sealed(user.id, "GONE", b"x"),
            None,
            QUOTA,
            &event(user.id, "secret.put"),
        )
        .await
        .unwrap();

    // Act
    let first = store
        .delete_secret(user.id, "GONE", &event(user.id, "secret.delete"))
        .await
        .unwrap();
    let second = store
        .delete_secret(user.id, "GONE", &event(user.id, "secret.delete"))
        .await
        .unwrap();

    // Assert
    assert!(first);
    assert!(!second);
    assert!(store.get_secret(user.id, "GONE").await.unwrap().is_none());
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "secret.put", "secret.delete"]
    );
}

pub async fn rewrapping_updates_the_key_only_while_the_version_matches(store: Arc<dyn Store>) {
    // Arrange
    let ada = registered(&store, "ada@example.com").await;
    let bob = registered(&store, "bob@example.com").await;
    for (user, name) in [(ada.id, "Z"), (ada.id, "A"), (bob.id, "M")] {
        store
            .put_secret(
                &sealed(user, name, b"x"),
                None,
                QUOTA,
                &event(user, "secret.put"),
            )
            .await
            .unwrap();
    }
    let before = store.get_secret(ada.id, "A").await.unwrap().unwrap();

    // Act
    let all = store.all_sealed_secrets().await.unwrap();
    let current = store
        .update_wrapped_key(ada.id, "A", 1, 2, b"rewrapped")
        .await
        .unwrap();
    let stale = store
        .update_wrapped_key(ada.id, "Z", 5, 2, b"rewrapped")
        .await
        .unwrap();
    let missing = store
        .update_wrapped_key(bob.id, "A", 1, 2, b"rewrapped")
        .await
        .unwrap();

    // Assert
    assert_eq!(all.len(), 3);
    assert!(current);
    assert!(!stale);
    assert!(!missing);
    let after = store.get_secret(ada.id, "A").await.unwrap().unwrap();
    assert_eq!(
        (after.key_version, after.wrapped_key.as_slice()),
        (2, &b"rewrapped"[..])
    );
    assert_eq!(after.version, 1);
    assert_eq!(after.updated_at, before.updated_at);
    assert_eq!(after.ciphertext, before.ciphertext);
    let z = store.get_secret(ada.id, "Z").await.unwrap().unwrap();
    assert_eq!(z.key_version, 1);
    let names: Vec<String> = store
        .sealed_secrets_for(ada.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["A", "Z"]);
}
