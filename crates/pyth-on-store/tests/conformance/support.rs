//! Fixtures: a fresh database per test, and builders for rows and audit events.

use std::sync::Arc;

use pyth_on_store::testing::{postgres_store, sqlite_store};
use pyth_on_store::{
    truncate_to_millis, AuditEvent, NewApiKey, NewRefreshToken, NewUser, PackageRow, Role,
    SealedSecretRow, Store, ZkCodeRow,
};
use serde_json::json;
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The live-key cap the scenarios pass to `create_api_key` (the server's, 50).
pub const KEY_CAP: u32 = 50;

/// A connected store and whatever must outlive it.
pub struct TestDb {
    pub store: Arc<dyn Store>,
    _dir: Option<TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = sqlite_store(dir.path()).await;
        Self {
            store,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Self {
        let store = postgres_store().await;
        Self { store, _dir: None }
    }
}

/// Now, at the millisecond precision the store keeps.
pub fn now() -> OffsetDateTime {
    truncate_to_millis(OffsetDateTime::now_utc())
}

pub fn new_user(email: &str) -> NewUser {
    NewUser {
        id: Uuid::now_v7(),
        email: email.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: now(),
        role: Role::User,
    }
}

pub fn event(user_id: Uuid, action: &str) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        user_id,
        at: now(),
        action: action.to_owned(),
        resource: None,
        outcome: "success".to_owned(),
        ip: Some("127.0.0.1".to_owned()),
        auth_method: Some("jwt".to_owned()),
        api_key_id: None,
        details: json!({}),
    }
}

/// Creates a user (with its `auth.register` audit entry) and returns it.
pub async fn registered(store: &Arc<dyn Store>, email: &str) -> NewUser {
    let user = new_user(email);
    store
        .create_user(&user, &event(user.id, "auth.register"))
        .await
        .expect("create user");
    user
}

pub fn new_key(user_id: Uuid, name: &str) -> NewApiKey {
    let id = Uuid::now_v7();
    NewApiKey {
        id,
        user_id,
        name: name.to_owned(),
        prefix: "po_abcd".to_owned(),
        key_hash: id.as_bytes().repeat(2),
        created_at: now(),
    }
}

pub fn new_token(user_id: Uuid, family_id: Uuid, ttl: Duration) -> NewRefreshToken {
    let id = Uuid::now_v7();
    NewRefreshToken {
        id,
        user_id,
        family_id,
        token_hash: id.as_bytes().repeat(2),
        created_at: now(),
        expires_at: now() + ttl,
        ip: Some("127.0.0.1".to_owned()),
        user_agent: Some("conformance".to_owned()),
    }
}

pub fn sealed(user_id: Uuid, name: &str, value: &[u8]) -> SealedSecretRow {
    SealedSecretRow {
        user_id,
        name: name.to_owned(),
        version: 0,
        key_version: 1,
        wrapped_key: vec![7; 48],
        nonce: vec![9; 12],
        ciphertext: value.to_vec(),
        created_at: now(),
        updated_at: now(),
    }
}

pub fn zk_code(user_id: Uuid, name: &str, payload: &str) -> ZkCodeRow {
    ZkCodeRow {
        user_id,
        name: name.to_owned(),
        language: "python".to_owned(),
        payload: payload.to_owned(),
        size: i64::try_from(payload.len()).expect("small payload"),
        kdf_m: 65_536,
        kdf_t: 3,
        kdf_p: 1,
        created_at: now(),
        updated_at: now(),
    }
}

pub fn package(user_id: Uuid, language: &str, name: &str, spec: &str) -> PackageRow {
    PackageRow {
        user_id,
        language: language.to_owned(),
        name: name.to_owned(),
        spec: spec.to_owned(),
        added_at: now(),
    }
}

/// The user's packages as `(language, name, spec)`, in listing order.
pub async fn package_list(store: &Arc<dyn Store>, user_id: Uuid) -> Vec<(String, String, String)> {
    store
        .list_packages(user_id)
        .await
        .expect("list packages")
        .into_iter()
        .map(|p| (p.language, p.name, p.spec))
        .collect()
}

/// The actions of the user's chain, oldest first.
pub async fn actions(store: &Arc<dyn Store>, user_id: Uuid) -> Vec<String> {
    store
        .audit_chain(user_id)
        .await
        .expect("audit chain")
        .into_iter()
        .map(|e| e.action)
        .collect()
}
