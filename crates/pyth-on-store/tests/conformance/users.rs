//! `UserStore` scenarios.

use pyth_on_store::Constraint;
use std::sync::Arc;

use pyth_on_store::{Store, StoreError};
use uuid::Uuid;

use crate::support::{actions, event, new_user, registered};

pub async fn a_new_user_is_found_by_email_and_by_id(store: Arc<dyn Store>) {
    // Arrange
    let user = new_user("ada@example.com");

    // Act
    store
        .create_user(&user, &event(user.id, "auth.register"))
        .await
        .expect("create");

    // Assert
    let by_email = store
        .user_by_email("ada@example.com")
        .await
        .unwrap()
        .unwrap();
    let by_id = store.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(by_email, by_id);
    assert_eq!(by_id.id, user.id);
    assert_eq!(by_id.email, user.email);
    assert_eq!(by_id.password_hash, user.password_hash);
    assert_eq!(by_id.created_at, user.created_at);
    assert_eq!(actions(&store, user.id).await, ["auth.register"]);
}

pub async fn a_duplicate_email_is_a_conflict_and_writes_no_audit(store: Arc<dyn Store>) {
    // Arrange
    registered(&store, "ada@example.com").await;
    let twin = new_user("ada@example.com");

    // Act
    let err = store
        .create_user(&twin, &event(twin.id, "auth.register"))
        .await
        .expect_err("duplicate email");

    // Assert
    assert!(err.is_conflict_on(Constraint::UserEmail), "{err:?}");
    assert!(store.user_by_id(twin.id).await.unwrap().is_none());
    assert!(store.audit_chain(twin.id).await.unwrap().is_empty());
}

pub async fn email_lookup_is_exact_because_callers_store_emails_lowercase(store: Arc<dyn Store>) {
    // Arrange
    registered(&store, "grace@example.com").await;

    // Act
    let other_case = store.user_by_email("Grace@Example.com").await.unwrap();
    let bob = new_user("bob@example.com");
    let distinct = store
        .create_user(&bob, &event(bob.id, "auth.register"))
        .await;

    // Assert
    assert!(other_case.is_none());
    assert!(distinct.is_ok());
}

pub async fn unknown_users_are_not_found(store: Arc<dyn Store>) {
    assert!(store
        .user_by_email("nobody@example.com")
        .await
        .unwrap()
        .is_none());
    assert!(store.user_by_id(Uuid::now_v7()).await.unwrap().is_none());
    let err = StoreError::NotFound;
    assert_eq!(err.to_string(), "not found");
}
