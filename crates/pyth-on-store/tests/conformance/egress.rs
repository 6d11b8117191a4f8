//! `EgressStore` scenarios: a user's allow-list is absent until set, replaced whole, isolated
//! per user, and removed with one audit entry.

use std::sync::Arc;

use pyth_on_store::Store;

use crate::support::{actions, event, now, registered};

fn list(hosts: &[&str]) -> Vec<String> {
    hosts.iter().map(|h| (*h).to_owned()).collect()
}

pub async fn an_allow_list_is_absent_until_set_then_replaced_whole_with_an_audit_each(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    assert_eq!(store.get_egress_allow(user.id).await.unwrap(), None);

    // Act
    let first = list(&["pypi.org", "*.github.com"]);
    store
        .set_egress_allow(user.id, &first, now(), &event(user.id, "egress.allow.set"))
        .await
        .unwrap();
    let after_first = store.get_egress_allow(user.id).await.unwrap();
    store
        .set_egress_allow(user.id, &[], now(), &event(user.id, "egress.allow.set"))
        .await
        .unwrap();

    // Assert
    assert_eq!(after_first, Some(first));
    assert_eq!(store.get_egress_allow(user.id).await.unwrap(), Some(vec![]));
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "egress.allow.set", "egress.allow.set"]
    );
}

pub async fn another_users_allow_list_is_invisible(store: Arc<dyn Store>) {
    let ada = registered(&store, "ada@example.com").await;
    let bob = registered(&store, "bob@example.com").await;
    store
        .set_egress_allow(
            ada.id,
            &list(&["pypi.org"]),
            now(),
            &event(ada.id, "egress.allow.set"),
        )
        .await
        .unwrap();
    assert_eq!(store.get_egress_allow(bob.id).await.unwrap(), None);
    assert!(!store
        .delete_egress_allow(bob.id, &event(bob.id, "egress.allow.delete"))
        .await
        .unwrap());
    assert_eq!(
        store.get_egress_allow(ada.id).await.unwrap(),
        Some(list(&["pypi.org"]))
    );
}

pub async fn deleting_an_allow_list_audits_once_and_reports_a_missing_one(store: Arc<dyn Store>) {
    let user = registered(&store, "ada@example.com").await;
    store
        .set_egress_allow(
            user.id,
            &list(&["x.org"]),
            now(),
            &event(user.id, "egress.allow.set"),
        )
        .await
        .unwrap();
    let delete = event(user.id, "egress.allow.delete");
    assert!(store.delete_egress_allow(user.id, &delete).await.unwrap());
    assert!(!store.delete_egress_allow(user.id, &delete).await.unwrap());
    assert_eq!(store.get_egress_allow(user.id).await.unwrap(), None);
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "egress.allow.set", "egress.allow.delete"]
    );
}
