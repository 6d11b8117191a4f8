//! The one-round-trip record (`sql/remembered_head.rs`) is taken when the node remembers the
//! head, and not when another process moved it.

use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::SqliteStore;
use crate::model::truncate_to_millis;
use crate::traits::{AuditStore, UserStore};
use crate::{AuditEvent, ConnectOptions, NewUser, OpenRun, Role};

fn now() -> OffsetDateTime {
    truncate_to_millis(OffsetDateTime::now_utc())
}

fn event(user_id: Uuid, action: &str) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        user_id,
        at: now(),
        action: action.to_owned(),
        resource: None,
        outcome: "success".to_owned(),
        ip: None,
        auth_method: None,
        api_key_id: None,
        details: json!({}),
    }
}

fn run(user_id: Uuid) -> OpenRun {
    OpenRun {
        execution_id: Uuid::now_v7(),
        user_id,
        node: "node-a".to_owned(),
        action: "execute".to_owned(),
        resource: None,
        ip: None,
        auth_method: None,
        api_key_id: None,
        started_at: now(),
        deadline_at: now() + time::Duration::minutes(5),
    }
}

async fn open(dir: &tempfile::TempDir) -> SqliteStore {
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let options = ConnectOptions {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
        busy_timeout: Duration::from_secs(5),
        statement_timeout: None,
    };
    SqliteStore::connect(&url, &options).await.unwrap()
}

#[tokio::test]
async fn a_run_after_an_append_by_this_node_goes_in_one_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let user = NewUser {
        id: Uuid::now_v7(),
        email: "ada@example.com".to_owned(),
        password_hash: "x".to_owned(),
        created_at: now(),
        role: Role::User,
    };
    store
        .create_user(&user, &event(user.id, "auth.register"))
        .await
        .unwrap();
    store
        .append_audit(&event(user.id, "secret.set"))
        .await
        .unwrap();
    let (first, second) = (run(user.id), run(user.id));

    let begun = store
        .begin_run_after_remembered(&first, &event(user.id, "execute"))
        .await
        .unwrap();
    let ended = store
        .end_run_after_remembered(first.execution_id, &event(user.id, "execute"), None)
        .await
        .unwrap();
    // Another process appends to the same file: this node's memory is stale.
    let other = open(&dir).await;
    other
        .append_audit(&event(user.id, "secret.set"))
        .await
        .unwrap();
    let stale = store
        .begin_run_after_remembered(&second, &event(user.id, "execute"))
        .await
        .unwrap();

    assert!(begun && ended, "the remembered head was not used");
    assert!(!stale, "a stale head must write nothing");
    let chain = store.audit_chain(user.id).await.unwrap();
    assert_eq!(chain.len(), 5);
    assert!(crate::verify_chain(&chain).valid);
}
