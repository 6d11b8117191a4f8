//! `ApiKeyStore` scenarios.

use pyth_on_store::Constraint;
use std::sync::Arc;

use pyth_on_store::Store;
use time::Duration;

use crate::support::{actions, event, new_key, new_user, now, registered, KEY_CAP};

pub async fn registration_stores_the_user_their_first_key_and_one_audit_entry(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user = new_user("ada@example.com");
    let key = new_key(user.id, "default");

    // Act
    store
        .create_user_with_key(&user, &key, &event(user.id, "auth.register"))
        .await
        .expect("register");

    // Assert
    assert!(store.user_by_id(user.id).await.unwrap().is_some());
    let found = store.api_key_by_hash(&key.key_hash).await.unwrap().unwrap();
    assert_eq!(found.id, key.id);
    assert_eq!(found.user_id, user.id);
    assert_eq!(found.name, "default");
    assert_eq!(found.prefix, key.prefix);
    assert_eq!(found.created_at, key.created_at);
    assert_eq!(found.last_used_at, None);
    assert_eq!(actions(&store, user.id).await, ["auth.register"]);

    // A failed registration (same email) leaves no key and no audit behind.
    let twin = new_user("ada@example.com");
    let twin_key = new_key(twin.id, "default");
    let err = store
        .create_user_with_key(&twin, &twin_key, &event(twin.id, "auth.register"))
        .await
        .expect_err("duplicate");
    assert!(err.is_conflict_on(Constraint::UserEmail), "{err:?}");
    assert!(store
        .api_key_by_hash(&twin_key.key_hash)
        .await
        .unwrap()
        .is_none());
    assert!(store.audit_chain(twin.id).await.unwrap().is_empty());
}

pub async fn keys_are_listed_oldest_first_and_found_by_hash(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let mut first = new_key(user.id, "laptop");
    first.created_at = now() - Duration::minutes(5);
    let second = new_key(user.id, "ci");

    // Act
    store
        .create_api_key(&second, KEY_CAP, Some(&event(user.id, "key.create")))
        .await
        .unwrap();
    store.create_api_key(&first, KEY_CAP, None).await.unwrap();

    // Assert
    let names: Vec<String> = store
        .list_api_keys(user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(names, ["laptop", "ci"]);
    let found = store
        .api_key_by_hash(&first.key_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, first.id);
    assert!(store
        .api_key_by_hash(b"no such hash")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "key.create"]
    );
}

pub async fn a_duplicate_key_hash_is_a_conflict(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let key = new_key(user.id, "one");
    store.create_api_key(&key, KEY_CAP, None).await.unwrap();
    let mut clash = new_key(user.id, "two");
    clash.key_hash.clone_from(&key.key_hash);

    // Act
    let err = store
        .create_api_key(&clash, KEY_CAP, Some(&event(user.id, "key.create")))
        .await
        .expect_err("duplicate hash");

    // Assert
    assert!(err.is_conflict_on(Constraint::ApiKeyHash), "{err:?}");
    assert_eq!(actions(&store, user.id).await, ["auth.register"]);
}

pub async fn revoking_a_key_hides_it_and_audits_exactly_once(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let key = new_key(user.id, "laptop");
    let kept = new_key(user.id, "ci");
    store.create_api_key(&key, KEY_CAP, None).await.unwrap();
    store.create_api_key(&kept, KEY_CAP, None).await.unwrap();

    // Act
    let revoked = store
        .revoke_api_key(user.id, key.id, now(), &event(user.id, "key.revoke"))
        .await
        .unwrap();
    let again = store
        .revoke_api_key(user.id, key.id, now(), &event(user.id, "key.revoke"))
        .await
        .unwrap();

    // Assert
    assert!(revoked);
    assert!(!again);
    assert!(store
        .api_key_by_hash(&key.key_hash)
        .await
        .unwrap()
        .is_none());
    let listed: Vec<_> = store.list_api_keys(user.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, kept.id);
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "key.revoke"]
    );
}

pub async fn another_user_cannot_revoke_a_key(store: Arc<dyn Store>) {
    // Arrange
    let owner = registered(&store, "ada@example.com").await;
    let intruder = registered(&store, "eve@example.com").await;
    let key = new_key(owner.id, "laptop");
    store.create_api_key(&key, KEY_CAP, None).await.unwrap();

    // Act
    let revoked = store
        .revoke_api_key(
            intruder.id,
            key.id,
            now(),
            &event(intruder.id, "key.revoke"),
        )
        .await
        .unwrap();

    // Assert
    assert!(!revoked);
    assert!(store
        .api_key_by_hash(&key.key_hash)
        .await
        .unwrap()
        .is_some());
    assert!(store.list_api_keys(intruder.id).await.unwrap().is_empty());
    assert_eq!(actions(&store, intruder.id).await, ["auth.register"]);
}

pub async fn touching_a_key_records_its_last_use(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let key = new_key(user.id, "laptop");
    store.create_api_key(&key, KEY_CAP, None).await.unwrap();
    let used_at = now() + Duration::seconds(3);

    // Act
    store.touch_api_key(key.id, used_at).await.unwrap();

    // Assert
    let found = store.api_key_by_hash(&key.key_hash).await.unwrap().unwrap();
    assert_eq!(found.last_used_at, Some(used_at));
    assert_eq!(
        store.list_api_keys(user.id).await.unwrap()[0].last_used_at,
        Some(used_at)
    );
}

pub async fn the_key_cap_counts_live_keys_and_a_refusal_writes_nothing(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let first = new_key(user.id, "one");
    store.create_api_key(&first, 2, None).await.unwrap();
    store
        .create_api_key(&new_key(user.id, "two"), 2, None)
        .await
        .unwrap();
    let third = new_key(user.id, "three");

    // Act
    let refused = store
        .create_api_key(&third, 2, Some(&event(user.id, "key.create")))
        .await
        .expect_err("over the cap");
    store
        .revoke_api_key(user.id, first.id, now(), &event(user.id, "key.revoke"))
        .await
        .unwrap();
    let after_revoke = store
        .create_api_key(&third, 2, Some(&event(user.id, "key.create")))
        .await;

    // Assert
    assert!(
        refused.is_conflict_on(Constraint::ApiKeyQuota),
        "{refused:?}"
    );
    assert!(
        after_revoke.is_ok(),
        "a revoked key frees its place: {after_revoke:?}"
    );
    assert_eq!(store.list_api_keys(user.id).await.unwrap().len(), 2);
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "key.revoke", "key.create"]
    );
}

pub async fn a_key_is_found_with_its_owner_as_the_owner_is_now(store: Arc<dyn Store>) {
    // Arrange: the key is made after its owner, so the two creation times differ.
    let user = registered(&store, "ada@example.com").await;
    let mut key = new_key(user.id, "laptop");
    key.created_at = user.created_at + Duration::seconds(5);
    store.create_api_key(&key, KEY_CAP, None).await.unwrap();
    let used_at = now() + Duration::seconds(9);
    store.touch_api_key(key.id, used_at).await.unwrap();

    // Act
    let (found, owner) = store
        .api_key_with_owner(&key.key_hash)
        .await
        .unwrap()
        .expect("a live key");

    // Assert: the same key and user their own lookups give.
    let alone = store.api_key_by_hash(&key.key_hash).await.unwrap().unwrap();
    assert_eq!(found, alone);
    assert_eq!(found.created_at, key.created_at);
    assert_eq!(found.last_used_at, Some(used_at));
    assert_eq!(
        Some(owner.clone()),
        store.user_by_id(user.id).await.unwrap()
    );
    assert_eq!(owner.created_at, user.created_at);
    assert_eq!(owner.disabled_at, None);

    // A disabled owner is found disabled; a revoked or unknown key not at all.
    let at = now();
    let audit = [event(user.id, "admin.user_disable")];
    assert!(store
        .set_user_disabled(user.id, Some(at), &audit)
        .await
        .unwrap());
    let (_, owner) = store
        .api_key_with_owner(&key.key_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.disabled_at, Some(at));
    store
        .revoke_api_key(user.id, key.id, now(), &event(user.id, "key.revoke"))
        .await
        .unwrap();
    assert!(store
        .api_key_with_owner(&key.key_hash)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .api_key_with_owner(b"no such hash")
        .await
        .unwrap()
        .is_none());
}
