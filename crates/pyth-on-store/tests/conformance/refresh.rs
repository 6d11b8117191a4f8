//! `RefreshTokenStore` scenarios: rotation, reuse detection, expiry, logout.

use std::sync::Arc;

use pyth_on_store::{RefreshOutcome, Store};
use time::Duration;
use uuid::Uuid;

use crate::support::{actions, event, new_token, now, registered};

pub async fn rotating_a_live_token_spends_it_and_stores_the_successor(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let family = Uuid::now_v7();
    let first = new_token(user.id, family, Duration::days(30));
    store.create_refresh_token(&first).await.unwrap();
    // The caller does not know the owner: user ids and family are placeholders.
    let successor = new_token(Uuid::nil(), Uuid::nil(), Duration::days(30));
    let third = new_token(Uuid::nil(), Uuid::nil(), Duration::days(30));

    // Act
    let rotated = store
        .rotate_refresh_token(
            &first.token_hash,
            &successor,
            now(),
            &event(Uuid::nil(), "auth.refresh"),
            &event(Uuid::nil(), "auth.refresh_reuse"),
        )
        .await
        .unwrap();
    let rotated_again = store
        .rotate_refresh_token(
            &successor.token_hash,
            &third,
            now(),
            &event(Uuid::nil(), "auth.refresh"),
            &event(Uuid::nil(), "auth.refresh_reuse"),
        )
        .await
        .unwrap();

    // Assert
    let expected = RefreshOutcome::Rotated {
        user_id: user.id,
        family_id: family,
    };
    assert_eq!(rotated, expected);
    assert_eq!(rotated_again, expected);
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "auth.refresh", "auth.refresh"]
    );
    assert!(store.audit_chain(Uuid::nil()).await.unwrap().is_empty());
}

pub async fn replaying_a_spent_token_revokes_the_whole_family_including_the_successor(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let family = Uuid::now_v7();
    let first = new_token(user.id, family, Duration::days(30));
    store.create_refresh_token(&first).await.unwrap();
    let successor = new_token(user.id, family, Duration::days(30));
    let ok = event(Uuid::nil(), "auth.refresh");
    let reuse = event(Uuid::nil(), "auth.refresh_reuse");
    store
        .rotate_refresh_token(&first.token_hash, &successor, now(), &ok, &reuse)
        .await
        .unwrap();
    let other_family = new_token(user.id, Uuid::now_v7(), Duration::days(30));
    store.create_refresh_token(&other_family).await.unwrap();

    // Act
    let replayed = store
        .rotate_refresh_token(
            &first.token_hash,
            &new_token(user.id, family, Duration::days(30)),
            now(),
            &event(Uuid::nil(), "auth.refresh"),
            &event(Uuid::nil(), "auth.refresh_reuse"),
        )
        .await
        .unwrap();
    let successor_after = store
        .rotate_refresh_token(
            &successor.token_hash,
            &new_token(user.id, family, Duration::days(30)),
            now(),
            &event(Uuid::nil(), "auth.refresh"),
            &event(Uuid::nil(), "auth.refresh_reuse"),
        )
        .await
        .unwrap();
    let replayed_again = store
        .rotate_refresh_token(
            &first.token_hash,
            &new_token(user.id, family, Duration::days(30)),
            now(),
            &event(Uuid::nil(), "auth.refresh"),
            &event(Uuid::nil(), "auth.refresh_reuse"),
        )
        .await
        .unwrap();
    let unrelated = store
        .rotate_refresh_token(
            &other_family.token_hash,
            &new_token(user.id, family, Duration::days(30)),
            now(),
            &event(Uuid::nil(), "auth.refresh"),
            &event(Uuid::nil(), "auth.refresh_reuse"),
        )
        .await
        .unwrap();

    // Assert
    assert_eq!(
        replayed,
        RefreshOutcome::Reused {
            user_id: user.id,
            family_id: family
        }
    );
    assert_eq!(successor_after, RefreshOutcome::Invalid);
    assert_eq!(
        replayed_again,
        RefreshOutcome::Invalid,
        "a revoked family writes nothing"
    );
    assert!(matches!(unrelated, RefreshOutcome::Rotated { .. }));
    assert_eq!(
        actions(&store, user.id).await,
        [
            "auth.register",
            "auth.refresh",
            "auth.refresh_reuse",
            "auth.refresh"
        ]
    );
}

pub async fn an_expired_token_is_invalid_and_writes_nothing(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let token = new_token(user.id, Uuid::now_v7(), Duration::seconds(10));
    store.create_refresh_token(&token).await.unwrap();
    let successor = new_token(user.id, Uuid::nil(), Duration::days(1));

    // Act
    let outcome = store
        .rotate_refresh_token(
            &token.token_hash,
            &successor,
            token.expires_at,
            &event(Uuid::nil(), "auth.refresh"),
            &event(Uuid::nil(), "auth.refresh_reuse"),
        )
        .await
        .unwrap();

    // Assert
    assert_eq!(outcome, RefreshOutcome::Invalid);
    assert_eq!(actions(&store, user.id).await, ["auth.register"]);
    // The successor was not stored: presenting it finds nothing.
    let follow_up = store
        .rotate_refresh_token(
            &successor.token_hash,
            &new_token(user.id, Uuid::nil(), Duration::days(1)),
            now(),
            &event(Uuid::nil(), "auth.refresh"),
            &event(Uuid::nil(), "auth.refresh_reuse"),
        )
        .await
        .unwrap();
    assert_eq!(follow_up, RefreshOutcome::Invalid);
}

pub async fn an_unknown_token_is_invalid(store: Arc<dyn Store>) {
    // Act
    let outcome = store
        .rotate_refresh_token(
            b"never issued",
            &new_token(Uuid::nil(), Uuid::nil(), Duration::days(1)),
            now(),
            &event(Uuid::nil(), "auth.refresh"),
            &event(Uuid::nil(), "auth.refresh_reuse"),
        )
        .await
        .unwrap();

    // Assert
    assert_eq!(outcome, RefreshOutcome::Invalid);
    assert!(store.audit_chain(Uuid::nil()).await.unwrap().is_empty());
}

pub async fn revoking_a_family_invalidates_its_live_token(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let family = Uuid::now_v7();
    let token = new_token(user.id, family, Duration::days(30));
    store.create_refresh_token(&token).await.unwrap();

    // Act
    store.revoke_refresh_family(family).await.unwrap();
    store.revoke_refresh_family(family).await.unwrap();

    // Assert
    let outcome = store
        .rotate_refresh_token(
            &token.token_hash,
            &new_token(user.id, family, Duration::days(30)),
            now(),
            &event(Uuid::nil(), "auth.refresh"),
            &event(Uuid::nil(), "auth.refresh_reuse"),
        )
        .await
        .unwrap();
    assert_eq!(outcome, RefreshOutcome::Invalid);
}

pub async fn signing_out_revokes_the_live_tokens_family_once_and_audits_it(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let family = Uuid::now_v7();
    let token = new_token(user.id, family, Duration::days(30));
    store.create_refresh_token(&token).await.unwrap();
    let other = new_token(user.id, Uuid::now_v7(), Duration::days(30));
    store.create_refresh_token(&other).await.unwrap();
    let logout = event(Uuid::nil(), "auth.logout");

    // Act
    let first = store
        .sign_out(&token.token_hash, now(), &logout)
        .await
        .unwrap();
    let again = store
        .sign_out(&token.token_hash, now(), &logout)
        .await
        .unwrap();
    let unknown = store
        .sign_out(b"no such token", now(), &logout)
        .await
        .unwrap();

    // Assert
    assert_eq!((first, again, unknown), (Some(user.id), None, None));
    let spend = |hash: Vec<u8>| {
        let store = store.clone();
        async move {
            let next = new_token(Uuid::nil(), Uuid::nil(), Duration::days(30));
            let ok = event(Uuid::nil(), "auth.refresh");
            let reuse = event(Uuid::nil(), "auth.refresh_reuse");
            store
                .rotate_refresh_token(&hash, &next, now(), &ok, &reuse)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        spend(token.token_hash.clone()).await,
        RefreshOutcome::Invalid
    );
    assert!(
        matches!(
            spend(other.token_hash.clone()).await,
            RefreshOutcome::Rotated { .. }
        ),
        "another sign-in stays live"
    );
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "auth.logout", "auth.refresh"]
    );
}
