//! A user's own account: changing the password ends the other sign-ins, sign-ins are listed
//! and ended one by one (their access tokens with them), deleting the account leaves no row of
//! it, and runs receive only the secrets they name.

use pyth_on_store::Store;
use pyth_on_types::{
    AccountSettings, CellRequest, CreateSessionRequest, ExecuteRequest, SecretsDefault, UserRole,
};

use crate::accounts::admin_of;
use crate::support::{assert_api_error, TestServer};

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a brand new passphrase";

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_every_other_sign_in() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let other = server.client.login(&user.email, PASSWORD).await.unwrap();
    let other_jwt = server.client.with_token(other.token.clone());

    let wrong = user
        .jwt
        .change_password("not the password", NEW_PASSWORD)
        .await;
    let short = user.jwt.change_password(PASSWORD, "short").await;
    let by_key = user.key.change_password(PASSWORD, NEW_PASSWORD).await;
    user.jwt
        .change_password(PASSWORD, NEW_PASSWORD)
        .await
        .unwrap();

    assert_api_error(wrong, 403, "wrong_password");
    assert_api_error(short, 400, "validation_failed");
    assert_api_error(by_key, 403, "jwt_required");
    assert_api_error(other_jwt.me().await, 401, "unauthorized");
    let refreshed = server.client.refresh(&other.refresh_token).await;
    assert_api_error(refreshed, 401, "unauthorized");
    user.jwt.me().await.unwrap();
    server
        .client
        .refresh(&user.auth.refresh_token)
        .await
        .unwrap();
    let old = server.client.login(&user.email, PASSWORD).await;
    assert_api_error(old, 401, "invalid_credentials");
    server
        .client
        .login(&user.email, NEW_PASSWORD)
        .await
        .unwrap();
    user.key.me().await.unwrap();
}

#[tokio::test]
async fn sign_ins_are_listed_and_ending_one_stops_its_tokens_at_once() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let phone = server.client.login(&user.email, PASSWORD).await.unwrap();
    let phone_jwt = server.client.with_token(phone.token.clone());

    let listed = user.jwt.sign_ins().await.unwrap().sign_ins;

    assert_eq!(listed.len(), 2);
    let current: Vec<bool> = listed.iter().map(|s| s.current).collect();
    assert_eq!(current, [false, true], "newest first, the caller's marked");
    assert_eq!(listed[0].ip.as_deref(), Some("127.0.0.1"));
    user.jwt.revoke_sign_in(listed[0].id).await.unwrap();
    assert_api_error(phone_jwt.me().await, 401, "unauthorized");
    let refreshed = server.client.refresh(&phone.refresh_token).await;
    assert_api_error(refreshed, 401, "unauthorized");
    let again = user.jwt.revoke_sign_in(listed[0].id).await;
    assert_api_error(again, 404, "not_found");
    assert_eq!(user.jwt.sign_ins().await.unwrap().sign_ins.len(), 1);
    let stranger = server.user().await;
    let theirs = stranger.jwt.revoke_sign_in(listed[1].id).await;
    assert_api_error(theirs, 404, "not_found");
}

#[tokio::test]
async fn deleting_an_account_needs_the_password_and_leaves_no_row_of_it() {
    let server = TestServer::start().await;
    let user = server.user().await;
    user.key.put_secret("TOKEN", "value-123").await.unwrap();
    let run = ExecuteRequest {
        code: "print(1)".into(),
        ..Default::default()
    };
    user.key.execute(&run).await.unwrap();
    let open = CreateSessionRequest::default();
    let session = user.key.create_session(&open).await.unwrap();
    let url = format!(
        "sqlite://{}?mode=rw",
        server.dir.path().join("pyth-on.db").display()
    );
    let store = pyth_on_store::connect(&url).await.unwrap();

    let wrong = user.jwt.delete_account("not the password").await;
    let by_key = user.key.delete_account(PASSWORD).await;
    user.jwt.delete_account(PASSWORD).await.unwrap();

    assert_api_error(wrong, 403, "wrong_password");
    assert_api_error(by_key, 403, "jwt_required");
    assert_api_error(user.key.me().await, 401, "unauthorized");
    let login = server.client.login(&user.email, PASSWORD).await;
    assert_api_error(login, 401, "invalid_credentials");
    let ended = server
        .client
        .with_token(&user.auth.token)
        .get_session(session.id)
        .await;
    assert_api_error(ended, 401, "unauthorized");
    assert_no_row_of(store.as_ref(), user.auth.user.id).await;
}

/// No table holds a row naming `user_id`.
async fn assert_no_row_of(store: &dyn Store, user_id: uuid::Uuid) {
    assert!(store.user_by_id(user_id).await.unwrap().is_none());
    assert!(store.audit_chain(user_id).await.unwrap().is_empty());
    assert!(store.list_api_keys(user_id).await.unwrap().is_empty());
    assert!(store.list_secrets(user_id).await.unwrap().is_empty());
    assert!(store.session_records_of(user_id).await.unwrap().is_empty());
    let now = time::OffsetDateTime::now_utc();
    assert!(store.sign_ins(user_id, now).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_admin_deleting_a_user_keeps_the_record_in_the_admins_log_only() {
    let server = TestServer::start().await;
    let admin = admin_of(&server, None).await;
    let user = server.user().await;

    admin.admin_delete_user(user.auth.user.id).await.unwrap();

    assert_api_error(user.key.me().await, 401, "unauthorized");
    let entries = admin.audit(None, None, Some("admin.user.delete")).await;
    let entries = entries.unwrap().entries;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].details["email"], user.email.as_str());
    assert!(admin.verify_audit().await.unwrap().valid);
    assert_eq!(admin.me().await.unwrap().role, UserRole::Admin);
}

fn env_of(names: &[&str]) -> String {
    let names = names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(",");
    format!("import os; print(sorted(n for n in [{names}] if n in os.environ))")
}

#[tokio::test]
async fn a_run_receives_only_the_secrets_it_names() {
    let server = TestServer::start().await;
    let user = server.user().await;
    for name in ["ALPHA", "BETA"] {
        user.key.put_secret(name, "value-of-secret").await.unwrap();
    }
    let code = env_of(&["ALPHA", "BETA"]);
    let run = |secrets: Option<Vec<String>>| ExecuteRequest {
        code: code.clone(),
        secrets,
        ..Default::default()
    };

    let all = user.key.execute(&run(None)).await.unwrap();
    let alpha = user
        .key
        .execute(&run(Some(vec!["ALPHA".into()])))
        .await
        .unwrap();
    let none = user.key.execute(&run(Some(vec![]))).await.unwrap();
    let unknown = user.key.execute(&run(Some(vec!["GAMMA".into()]))).await;
    let invalid = user.key.execute(&run(Some(vec!["lower".into()]))).await;

    assert_eq!(all.output, "['ALPHA', 'BETA']\n");
    assert_eq!(alpha.output, "['ALPHA']\n");
    assert_eq!(none.output, "[]\n");
    let body = assert_api_error(unknown, 400, "unknown_secret");
    assert_eq!(body.details.unwrap()["secrets"][0], "GAMMA");
    assert_api_error(invalid, 400, "invalid_name");
}

#[tokio::test]
async fn with_the_none_default_only_named_secrets_reach_runs_and_sessions() {
    let server = TestServer::start().await;
    let user = server.user().await;
    for name in ["ALPHA", "BETA"] {
        user.key.put_secret(name, "value-of-secret").await.unwrap();
    }
    let none = AccountSettings {
        secrets_default: SecretsDefault::None,
    };
    let info = user.jwt.set_account_settings(&none).await.unwrap();
    assert_eq!(info.secrets_default, SecretsDefault::None);
    let code = env_of(&["ALPHA", "BETA"]);

    let unnamed = ExecuteRequest {
        code: code.clone(),
        ..Default::default()
    };
    let unnamed = user.key.execute(&unnamed).await.unwrap();
    let session = CreateSessionRequest {
        secrets: Some(vec!["BETA".into()]),
        ..Default::default()
    };
    let session = user.key.create_session(&session).await.unwrap();
    let cell = CellRequest {
        code,
        ..Default::default()
    };
    let cell = user.key.execute_cell(session.id, &cell).await.unwrap();

    assert_eq!(unnamed.output, "[]\n");
    assert_eq!(cell.stdout, "['BETA']\n");
    let by_key = user.key.set_account_settings(&none).await;
    assert_api_error(by_key, 403, "jwt_required");
}
