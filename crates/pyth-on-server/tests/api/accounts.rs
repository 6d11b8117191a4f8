//! Who gets in and who runs the place: the registration modes, single-use invitations, the
//! admin routes, and disabled accounts (refused at once, on every node).

use pyth_on_client::Client;
use pyth_on_server::admin::{self, Actor};
use pyth_on_server::registration::RegistrationMode;
use pyth_on_store::{NewUser, Role};
use pyth_on_types::{
    AdminCreateUser, ExecuteRequest, InvitationRequest, QuotaOverrides, Registration, UserRole,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::{assert_api_error, TestServer};

const PASSWORD: &str = "correct horse battery staple";

/// Creates an admin straight in the server's database, as `pyth-on users create --admin`
/// does, and signs it in: a client holding its access token.
pub async fn admin_of(server: &TestServer, database_url: Option<&str>) -> Client {
    let url = database_url.map_or_else(
        || {
            format!(
                "sqlite://{}?mode=rw",
                server.dir.path().join("pyth-on.db").display()
            )
        },
        str::to_string,
    );
    let store = pyth_on_store::connect(&url).await.unwrap();
    let email = format!("admin-{}@example.com", Uuid::now_v7().simple());
    let user = NewUser {
        id: Uuid::now_v7(),
        email: email.clone(),
        password_hash: pyth_on_crypto::hash_password(PASSWORD).unwrap(),
        created_at: OffsetDateTime::now_utc(),
        role: Role::Admin,
    };
    admin::create_user(store.as_ref(), &Actor::Operator, user)
        .await
        .unwrap();
    let auth = server.client.login(&email, PASSWORD).await.unwrap();
    server.client.with_token(auth.token)
}

fn email() -> String {
    format!("u-{}@example.com", Uuid::now_v7().simple())
}

#[tokio::test]
async fn a_closed_server_refuses_registration_and_says_so_in_info() {
    let server = TestServer::start_with(|s| {
        s.registration.registration = Some(RegistrationMode::Closed);
    })
    .await;

    let info = server.client.info().await.unwrap();
    let refused = server.client.register(&email(), PASSWORD).await;

    assert_eq!(info.features.registration, Registration::Closed);
    let body = assert_api_error(refused, 403, "registration_closed");
    assert!(body.error.contains("administrator"), "{}", body.error);
    let admin = admin_of(&server, None).await;
    let created = admin
        .admin_create_user(&AdminCreateUser {
            email: email(),
            password: None,
            role: None,
        })
        .await
        .unwrap();
    let generated = created.password.expect("a generated password");
    server
        .client
        .login(&created.user.email, &generated)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_open_server_on_loopback_is_the_default_and_ignores_invitations() {
    let server = TestServer::start().await;

    let info = server.client.info().await.unwrap();
    let registered = server
        .client
        .register_invited(&email(), PASSWORD, "pyi_not-a-code")
        .await;

    assert_eq!(info.features.registration, Registration::Open);
    registered.unwrap();
}

#[tokio::test]
async fn an_invitation_registers_exactly_one_account_before_it_expires() {
    let server = TestServer::start_with(|s| {
        s.registration.registration = Some(RegistrationMode::Invite);
    })
    .await;
    let admin = admin_of(&server, None).await;
    let request = InvitationRequest {
        note: Some("for Ada".into()),
        expires_in_hours: Some(1),
    };
    let created = admin.create_invitation(&request).await.unwrap();
    let client = &server.client;

    let without = client.register(&email(), PASSWORD).await;
    let junk = client
        .register_invited(&email(), PASSWORD, "pyi_junk")
        .await;
    let first = client
        .register_invited(&email(), PASSWORD, &created.code)
        .await;
    let again = client
        .register_invited(&email(), PASSWORD, &created.code)
        .await;

    assert_api_error(without, 403, "invitation_required");
    assert_api_error(junk, 403, "invitation_invalid");
    let first = first.unwrap();
    assert_api_error(again, 403, "invitation_invalid");
    let listed = admin.invitations().await.unwrap().invitations;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].used_by, Some(first.user.id));
    assert_eq!(listed[0].note, "for Ada");
    let bad_hours = InvitationRequest {
        note: None,
        expires_in_hours: Some(721),
    };
    assert_api_error(
        admin.create_invitation(&bad_hours).await,
        400,
        "validation_failed",
    );
}

#[tokio::test]
async fn a_deleted_invitation_cannot_be_used() {
    let server = TestServer::start_with(|s| {
        s.registration.registration = Some(RegistrationMode::Invite);
    })
    .await;
    let admin = admin_of(&server, None).await;
    let created = admin
        .create_invitation(&InvitationRequest::default())
        .await
        .unwrap();

    admin
        .delete_invitation(created.invitation.id)
        .await
        .unwrap();
    let used = server
        .client
        .register_invited(&email(), PASSWORD, &created.code)
        .await;

    assert_api_error(used, 403, "invitation_invalid");
    let again = admin.delete_invitation(created.invitation.id).await;
    assert_api_error(again, 404, "not_found");
}

#[tokio::test]
async fn admin_routes_refuse_plain_users_and_api_keys() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let admin = admin_of(&server, None).await;
    let admin_key = admin
        .request(reqwest::Method::POST, "/api/v1/keys")
        .json(&serde_json::json!({ "name": "ops" }))
        .send()
        .await
        .unwrap()
        .json::<pyth_on_types::CreatedKey>()
        .await
        .unwrap();
    let with_key = server.client.with_api_key(admin_key.api_key);

    assert_api_error(
        user.jwt.admin_users(None, None).await,
        403,
        "admin_required",
    );
    assert_api_error(
        with_key.admin_users(None, None).await,
        403,
        "admin_required",
    );
    let listed = admin.admin_users(None, Some(500)).await.unwrap();
    assert_eq!(listed.users.len(), 2);
    assert_api_error(
        admin.admin_users(None, Some(0)).await,
        400,
        "validation_failed",
    );
}

#[tokio::test]
async fn users_are_listed_a_page_at_a_time_in_creation_order() {
    let server = TestServer::start().await;
    let admin = admin_of(&server, None).await;
    for _ in 0..3 {
        server.user().await;
    }

    let first = admin.admin_users(None, Some(2)).await.unwrap();
    let rest = admin.admin_users(first.next_after, Some(2)).await.unwrap();

    assert_eq!(first.users.len(), 2);
    assert_eq!(first.users[0].role, UserRole::Admin);
    assert_eq!(rest.users.len(), 2);
    assert_eq!(rest.next_after, Some(rest.users[1].id));
    let last = admin.admin_users(rest.next_after, Some(2)).await.unwrap();
    assert!(last.users.is_empty() && last.next_after.is_none());
}

#[tokio::test]
async fn a_disabled_user_is_refused_at_once_and_enabled_again() {
    let server = TestServer::start().await;
    let admin = admin_of(&server, None).await;
    let user = server.user().await;
    let id = user.auth.user.id;

    admin.admin_set_disabled(id, true).await.unwrap();

    assert_api_error(user.key.me().await, 403, "account_disabled");
    assert_api_error(user.jwt.me().await, 403, "account_disabled");
    let login = server.client.login(&user.email, PASSWORD).await;
    assert_api_error(login, 403, "account_disabled");
    let refresh = server.client.refresh(&user.auth.refresh_token).await;
    assert_api_error(refresh, 403, "account_disabled");
    let wrong = server.client.login(&user.email, "a wrong password!").await;
    assert_api_error(wrong, 401, "invalid_credentials");
    admin.admin_set_disabled(id, false).await.unwrap();
    assert_eq!(user.key.me().await.unwrap().id, id);
    let actions: Vec<String> = user
        .key
        .audit(None, None, Some("admin."))
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["admin.user.enable", "admin.user.disable"]);
}

#[tokio::test]
async fn the_last_admin_cannot_demote_disable_or_delete_itself() {
    let server = TestServer::start().await;
    let admin = admin_of(&server, None).await;
    let me = admin.me().await.unwrap();

    let demote = admin.admin_set_role(me.id, UserRole::User).await;
    let disable = admin.admin_set_disabled(me.id, true).await;
    let delete = admin.admin_delete_user(me.id).await;

    assert_api_error(demote, 409, "last_admin");
    assert_api_error(disable, 409, "last_admin");
    assert_api_error(delete, 409, "last_admin");
    let user = server.user().await;
    admin
        .admin_set_role(user.auth.user.id, UserRole::Admin)
        .await
        .unwrap();
    assert_eq!(user.jwt.me().await.unwrap().role, UserRole::Admin);
    assert_api_error(
        admin.admin_delete_user(Uuid::now_v7()).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn a_user_disabled_on_one_node_is_refused_on_the_other_at_once() {
    let url = pyth_on_store::testing::test_postgres_url().await;
    let shared = tempfile::tempdir().unwrap();
    let key_dir = shared.path().join("keys");
    let node = |url: String, key_dir: std::path::PathBuf| {
        move |s: &mut pyth_on_server::Settings| {
            s.database_url = Some(url);
            s.key_dir = Some(key_dir);
        }
    };
    let a = TestServer::start_with(node(url.clone(), key_dir.clone())).await;
    let b = TestServer::start_with(node(url.clone(), key_dir.clone())).await;
    let admin = admin_of(&a, Some(&url)).await;
    let user = a.user().await;
    let key_on_b = b.client.with_api_key(user.auth.api_key.clone().unwrap());
    let token_on_b = b.client.with_token(user.auth.token.clone());
    key_on_b.me().await.unwrap();

    admin
        .admin_set_disabled(user.auth.user.id, true)
        .await
        .unwrap();

    assert_api_error(key_on_b.me().await, 403, "account_disabled");
    assert_api_error(token_on_b.me().await, 403, "account_disabled");
    admin.admin_delete_user(user.auth.user.id).await.unwrap();
    assert_api_error(key_on_b.me().await, 401, "unauthorized");
}

#[tokio::test]
async fn an_admin_sets_a_users_quota_and_sees_their_usage_in_the_list() {
    let server = TestServer::start().await;
    let admin = admin_of(&server, None).await;
    let user = server.user().await;
    let id = user.auth.user.id;
    let two_runs = QuotaOverrides {
        runs_per_day: Some(2),
        ..Default::default()
    };

    let set = admin.admin_set_quota(id, &two_runs).await.unwrap();
    let run = ExecuteRequest {
        code: "print(1)".into(),
        ..Default::default()
    };
    for _ in 0..2 {
        user.key.execute(&run).await.unwrap();
    }
    let third = user.key.execute(&run).await;

    assert_eq!(set.runs_per_day, 2);
    assert_eq!(
        admin.admin_quota(id).await.unwrap().overrides.runs_per_day,
        Some(2)
    );
    assert_api_error(third, 429, "quota_exceeded");
    let listed = admin.admin_users(None, None).await.unwrap().users;
    let row = listed.iter().find(|u| u.id == id).unwrap();
    let usage = row.usage.as_ref().unwrap();
    assert_eq!((usage.runs.used, usage.runs.limit), (2.0, Some(2)));
    let theirs = user
        .key
        .audit(None, None, Some("admin.user.quota"))
        .await
        .unwrap();
    assert_eq!(theirs.entries.len(), 1);
    let own = admin
        .audit(None, None, Some("admin.user.quota"))
        .await
        .unwrap();
    assert_eq!(own.entries.len(), 1);
    assert_api_error(user.jwt.admin_quota(id).await, 403, "admin_required");
    assert_api_error(admin.admin_quota(Uuid::now_v7()).await, 404, "not_found");
}
