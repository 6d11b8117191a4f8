//! `ZkCodeStore` scenarios: create, replace, case-sensitive names, quota, isolation, deletion.

use pyth_on_store::Constraint;
use std::sync::Arc;

use pyth_on_store::{PutOutcome, Store};
use time::Duration;

use crate::support::{actions, event, now, registered, zk_code};

const QUOTA: u32 = 100;

pub async fn storing_zk_code_creates_it_and_reads_it_back_exactly(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let row = zk_code(user.id, "main.py", r#"{"v":1,"ct":"AAAA"}"#);

    // Act
    let outcome = store
        .put_zk_code(&row, QUOTA, &event(user.id, "zk.store"))
        .await
        .unwrap();

    // Assert
    assert_eq!(outcome, PutOutcome::Created);
    let stored = store.get_zk_code(user.id, "main.py").await.unwrap();
    assert_eq!(stored.as_ref(), Some(&row));
    assert_eq!(store.list_zk_code(user.id).await.unwrap(), [row]);
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "zk.store"]
    );
}

pub async fn replacing_zk_code_overwrites_it_but_keeps_created_at(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let mut first = zk_code(user.id, "job", r#"{"v":1,"ct":"old"}"#);
    first.created_at = now() - Duration::hours(1);
    first.updated_at = first.created_at;
    store
        .put_zk_code(&first, QUOTA, &event(user.id, "zk.store"))
        .await
        .unwrap();
    let mut second = zk_code(user.id, "job", r#"{"v":1,"ct":"newer"}"#);
    second.language = "javascript".to_owned();
    (second.kdf_m, second.kdf_t, second.kdf_p) = (131_072, 4, 2);

    // Act
    let outcome = store
        .put_zk_code(&second, QUOTA, &event(user.id, "zk.store"))
        .await
        .unwrap();

    // Assert
    assert_eq!(outcome, PutOutcome::Replaced);
    let stored = store.get_zk_code(user.id, "job").await.unwrap().unwrap();
    let expected = pyth_on_store::ZkCodeRow {
        created_at: first.created_at,
        ..second
    };
    assert_eq!(stored, expected);
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "zk.store", "zk.store"]
    );
}

pub async fn zk_code_names_are_case_sensitive_and_listed_byte_wise(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;

    // Act
    for name in ["b", "B", "a", "A_x", "a.py"] {
        let outcome = store
            .put_zk_code(
                &zk_code(user.id, name, name),
                QUOTA,
                &event(user.id, "zk.store"),
            )
            .await
            .unwrap();
        assert_eq!(outcome, PutOutcome::Created, "{name}");
    }

    // Assert
    let names: Vec<String> = store
        .list_zk_code(user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|z| z.name)
        .collect();
    assert_eq!(names, ["A_x", "B", "a", "a.py", "b"]);
    assert!(store.get_zk_code(user.id, "A").await.unwrap().is_none());
    let upper = store.get_zk_code(user.id, "B").await.unwrap().unwrap();
    assert_eq!(upper.payload, "B");
}

pub async fn the_zk_code_quota_refuses_new_items_writing_nothing_but_allows_replacing(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    for name in ["one", "two"] {
        store
            .put_zk_code(&zk_code(user.id, name, "x"), 2, &event(user.id, "zk.store"))
            .await
            .unwrap();
    }

    // Act
    let third = store
        .put_zk_code(
            &zk_code(user.id, "three", "x"),
            2,
            &event(user.id, "zk.store"),
        )
        .await
        .expect_err("over quota");
    let audit_after_refusal = actions(&store, user.id).await.len();
    let replaced = store
        .put_zk_code(
            &zk_code(user.id, "one", "y"),
            2,
            &event(user.id, "zk.store"),
        )
        .await
        .unwrap();

    // Assert
    assert!(third.is_conflict_on(Constraint::ZkCodeQuota), "{third:?}");
    assert_eq!(audit_after_refusal, 3);
    assert!(store.get_zk_code(user.id, "three").await.unwrap().is_none());
    assert_eq!(replaced, PutOutcome::Replaced);
    assert_eq!(store.list_zk_code(user.id).await.unwrap().len(), 2);
    assert_eq!(actions(&store, user.id).await.len(), 4);
}

pub async fn another_users_zk_code_is_invisible(store: Arc<dyn Store>) {
    // Arrange
    let ada = registered(&store, "ada@example.com").await;
    let eve = registered(&store, "eve@example.com").await;
    store
        .put_zk_code(
            &zk_code(ada.id, "shared", "ada"),
            1,
            &event(ada.id, "zk.store"),
        )
        .await
        .unwrap();

    // Act
    let seen_by_eve = store.get_zk_code(eve.id, "shared").await.unwrap();
    let listed_for_eve = store.list_zk_code(eve.id).await.unwrap();
    let deleted_by_eve = store
        .delete_zk_code(eve.id, "shared", &event(eve.id, "zk.delete"))
        .await
        .unwrap();
    let eves_own = store
        .put_zk_code(
            &zk_code(eve.id, "shared", "eve"),
            1,
            &event(eve.id, "zk.store"),
        )
        .await
        .unwrap();

    // Assert
    assert!(seen_by_eve.is_none());
    assert!(listed_for_eve.is_empty());
    assert!(!deleted_by_eve);
    assert_eq!(eves_own, PutOutcome::Created);
    let adas = store.get_zk_code(ada.id, "shared").await.unwrap().unwrap();
    assert_eq!(adas.payload, "ada");
    assert_eq!(actions(&store, eve.id).await, ["auth.register", "zk.store"]);
}

pub async fn deleting_zk_code_audits_once_and_reports_a_missing_one(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    store
        .put_zk_code(
            &zk_code(user.id, "gone", "x"),
            QUOTA,
            &event(user.id, "zk.store"),
        )
        .await
        .unwrap();

    // Act
    let first = store
        .delete_zk_code(user.id, "gone", &event(user.id, "zk.delete"))
        .await
        .unwrap();
    let second = store
        .delete_zk_code(user.id, "gone", &event(user.id, "zk.delete"))
        .await
        .unwrap();

    // Assert
    assert!(first);
    assert!(!second);
    assert!(store.get_zk_code(user.id, "gone").await.unwrap().is_none());
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "zk.store", "zk.delete"]
    );
}
