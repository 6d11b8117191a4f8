//! `AuditStore` scenarios: the chain, paging, filtering, isolation, atomicity.

use pyth_on_store::Constraint;
use std::sync::Arc;

use pyth_on_store::{audit_hash, verify_chain, Store, GENESIS_HASH};
use serde_json::json;
use time::Duration;
use uuid::Uuid;

use crate::support::{event, new_key, now, package, registered, sealed, zk_code, KEY_CAP};

pub async fn every_audited_change_lands_in_one_chain_that_verifies(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let key = new_key(user.id, "ci");

    // Act
    store
        .create_api_key(&key, KEY_CAP, Some(&event(user.id, "key.create")))
        .await
        .unwrap();
    store
        .put_secret(
            &sealed(user.id, "S", b"x"),
            None,
            10,
            &event(user.id, "secret.put"),
        )
        .await
        .unwrap();
    store
        .append_audit(&event(user.id, "execute"))
        .await
        .unwrap();
    store
        .delete_secret(user.id, "S", &event(user.id, "secret.delete"))
        .await
        .unwrap();
    store
        .revoke_api_key(user.id, key.id, now(), &event(user.id, "key.revoke"))
        .await
        .unwrap();

    // Assert
    let chain = store.audit_chain(user.id).await.unwrap();
    let seqs: Vec<i64> = chain.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    assert_eq!(chain[0].prev_hash, GENESIS_HASH);
    for pair in chain.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    for entry in &chain {
        assert_eq!(entry.hash, audit_hash(&entry.prev_hash, &entry.event()));
    }
    let verified = verify_chain(&chain);
    assert!(verified.valid);
    assert_eq!(verified.entries, 6);
    assert_eq!(verified.head, chain[5].hash);
}

pub async fn zk_code_and_package_changes_extend_one_chain_that_verifies(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let pkg = package(user.id, "python", "requests", "requests");

    // Act
    store
        .put_zk_code(&zk_code(user.id, "a", "x"), 1, &event(user.id, "zk.store"))
        .await
        .unwrap();
    store
        .put_zk_code(&zk_code(user.id, "b", "x"), 1, &event(user.id, "zk.store"))
        .await
        .expect_err("over quota");
    store
        .add_package(&pkg, 10, &event(user.id, "package.add"))
        .await
        .unwrap();
    store
        .set_packages(
            user.id,
            "javascript",
            &[],
            10,
            &event(user.id, "package.set"),
        )
        .await
        .unwrap();
    store
        .remove_package(
            user.id,
            "python",
            "requests",
            &event(user.id, "package.remove"),
        )
        .await
        .unwrap();
    store
        .delete_zk_code(user.id, "a", &event(user.id, "zk.delete"))
        .await
        .unwrap();

    // Assert
    let chain = store.audit_chain(user.id).await.unwrap();
    let chained: Vec<&str> = chain.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        chained,
        [
            "auth.register",
            "zk.store",
            "package.add",
            "package.set",
            "package.remove",
            "zk.delete"
        ]
    );
    let verified = verify_chain(&chain);
    assert!(verified.valid);
    assert_eq!(verified.entries, 6);
}

pub async fn an_appended_entry_reads_back_exactly(store: Arc<dyn Store>) {
    // Arrange
    let user_id = Uuid::now_v7();
    let mut e = event(user_id, "execute");
    e.at = now() - Duration::milliseconds(1);
    e.resource = Some("exec_0192".into());
    e.outcome = "failure".into();
    e.ip = None;
    e.auth_method = Some("api_key".into());
    e.api_key_id = Some(Uuid::now_v7());
    e.details = json!({
        "codeSha256": "ab".repeat(32),
        "size": 1234,
        "ratio": 0.1,
        "big": 1e300,
        "neg": -7,
        "nested": {"z": [1, "ü", null], "a": true},
        "quote": "\"\\\n"
    });

    // Act
    let appended = store.append_audit(&e).await.unwrap();

    // Assert
    assert_eq!(appended.event(), e);
    assert_eq!(appended.seq, 1);
    assert_eq!(appended.prev_hash, GENESIS_HASH);
    let chain = store.audit_chain(user_id).await.unwrap();
    assert_eq!(chain, [appended]);
    assert!(verify_chain(&chain).valid);
}

pub async fn audit_pages_newest_first_with_a_seq_cursor(store: Arc<dyn Store>) {
    // Arrange
    let user_id = Uuid::now_v7();
    for i in 0..7 {
        store
            .append_audit(&event(user_id, &format!("execute.{i}")))
            .await
            .unwrap();
    }

    // Act
    let first = store.list_audit(user_id, 3, None, None).await.unwrap();
    let cursor = first.last().map(|e| e.seq);
    let second = store.list_audit(user_id, 3, cursor, None).await.unwrap();
    let cursor = second.last().map(|e| e.seq);
    let third = store.list_audit(user_id, 3, cursor, None).await.unwrap();
    let past_the_end = store.list_audit(user_id, 3, Some(1), None).await.unwrap();
    let none = store.list_audit(user_id, 0, None, None).await.unwrap();

    // Assert
    let seqs = |page: &[pyth_on_store::AuditEntry]| page.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(&first), [7, 6, 5]);
    assert_eq!(seqs(&second), [4, 3, 2]);
    assert_eq!(seqs(&third), [1]);
    assert_eq!(first[0].action, "execute.6");
    assert!(past_the_end.is_empty());
    assert!(none.is_empty());
}

pub async fn the_action_prefix_filter_is_literal_not_a_like_pattern(store: Arc<dyn Store>) {
    // Arrange
    let user_id = Uuid::now_v7();
    for action in [
        "auth.login",
        "auth.login_failed",
        "authXlogin",
        "key.create",
        "a%b",
        "axb",
    ] {
        store.append_audit(&event(user_id, action)).await.unwrap();
    }
    let actions_for = |prefix: &'static str| {
        let store = store.clone();
        async move {
            let mut found: Vec<String> = store
                .list_audit(user_id, 50, None, Some(prefix))
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.action)
                .collect();
            found.sort();
            found
        }
    };

    // Act + Assert
    assert_eq!(
        actions_for("auth.").await,
        ["auth.login", "auth.login_failed"]
    );
    assert_eq!(actions_for("auth.login_").await, ["auth.login_failed"]);
    assert_eq!(actions_for("auth_").await, Vec::<String>::new());
    assert_eq!(actions_for("a%").await, ["a%b"]);
    assert_eq!(actions_for("%").await, Vec::<String>::new());
    assert_eq!(actions_for("").await.len(), 6);
    assert_eq!(actions_for("key.create").await, ["key.create"]);

    // The prefix and the cursor combine.
    let older = store
        .list_audit(user_id, 50, Some(2), Some("auth."))
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].action, "auth.login");
}

pub async fn one_users_entries_are_invisible_to_another(store: Arc<dyn Store>) {
    // Arrange
    let ada = Uuid::now_v7();
    let eve = Uuid::now_v7();
    store.append_audit(&event(ada, "execute")).await.unwrap();
    store.append_audit(&event(ada, "execute")).await.unwrap();
    store.append_audit(&event(eve, "execute")).await.unwrap();

    // Act
    let eves_page = store.list_audit(eve, 50, None, None).await.unwrap();
    let eves_chain = store.audit_chain(eve).await.unwrap();

    // Assert
    assert_eq!(eves_page.len(), 1);
    assert!(eves_page.iter().all(|e| e.user_id == eve));
    assert_eq!(eves_chain.len(), 1);
    assert_eq!(eves_chain[0].seq, 1, "each user has a chain of their own");
    assert_eq!(eves_chain[0].prev_hash, GENESIS_HASH);
    assert_eq!(store.audit_chain(ada).await.unwrap().len(), 2);
}

pub async fn a_failed_change_writes_no_audit_entry(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let twin = crate::support::new_user("ada@example.com");
    let mut twin_event = event(user.id, "auth.register");
    twin_event.details = json!({"attempt": "duplicate"});

    // Act: the audit event targets the existing user's chain, but the insert conflicts.
    let err = store
        .create_user(&twin, &twin_event)
        .await
        .expect_err("conflict");

    // Assert
    assert!(err.is_conflict_on(Constraint::UserEmail));
    let chain = store.audit_chain(user.id).await.unwrap();
    assert_eq!(chain.len(), 1);
    assert!(store
        .list_audit(user.id, 50, None, None)
        .await
        .unwrap()
        .iter()
        .all(|e| e.details != json!({"attempt": "duplicate"})));

    // A duplicate audit id is itself refused, and the change it came with is rolled back.
    let mut reused_id = event(user.id, "secret.put");
    reused_id.id = chain[0].id;
    let err = store
        .put_secret(&sealed(user.id, "S", b"x"), None, 10, &reused_id)
        .await
        .expect_err("duplicate audit id");
    assert!(err.is_conflict_on(Constraint::AuditEntryPkey), "{err:?}");
    assert!(store.get_secret(user.id, "S").await.unwrap().is_none());
}
