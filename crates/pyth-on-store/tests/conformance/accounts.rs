//! `AccountStore` and `InvitationStore` scenarios.

use std::sync::Arc;

use pyth_on_store::{Constraint, NewInvitation, NewUser, Role, SecretsDefault, Store};
use time::Duration;
use uuid::Uuid;

use crate::support::{
    actions, event, new_key, new_token, new_user, now, registered, sealed, zk_code,
};

async fn admin(store: &Arc<dyn Store>, email: &str) -> Uuid {
    let mut user = new_user(email);
    user.role = Role::Admin;
    store
        .create_user(&user, &event(user.id, "auth.register"))
        .await
        .unwrap();
    user.id
}

fn invitation(created_by: Uuid, code: &[u8], ttl: Duration) -> NewInvitation {
    NewInvitation {
        id: Uuid::now_v7(),
        code_hash: code.repeat(32 / code.len().max(1)),
        created_by,
        note: "for ada".into(),
        created_at: now(),
        expires_at: now() + ttl,
    }
}

async fn register(
    store: &Arc<dyn Store>,
    code_hash: &[u8],
    user: &NewUser,
) -> pyth_on_store::StoreResult<()> {
    let key = new_key(user.id, "default");
    let audit = event(user.id, "auth.register");
    store
        .register_with_invitation(code_hash, user, &key, now(), &audit)
        .await
}

pub async fn users_are_listed_in_creation_order_with_role_and_paging(store: Arc<dyn Store>) {
    let first = admin(&store, "root@example.com").await;
    let second = registered(&store, "ada@example.com").await.id;
    let third = registered(&store, "bob@example.com").await.id;

    let page = store.list_users(None, 2).await.unwrap();
    let rest = store.list_users(Some(page[1].id), 10).await.unwrap();

    let ids: Vec<Uuid> = page.iter().chain(&rest).map(|u| u.id).collect();
    assert_eq!(ids, [first, second, third]);
    assert_eq!(page[0].role, Role::Admin);
    assert_eq!(page[1].role, Role::User);
    assert_eq!(store.count_admins().await.unwrap(), 1);
}

pub async fn a_disabled_user_reads_back_disabled_and_both_chains_get_the_entry(
    store: Arc<dyn Store>,
) {
    let root = admin(&store, "root@example.com").await;
    let ada = registered(&store, "ada@example.com").await.id;
    let at = now();
    let audit = [
        event(root, "admin.user.disable"),
        event(ada, "admin.user.disable"),
    ];

    assert!(store
        .set_user_disabled(ada, Some(at), &audit)
        .await
        .unwrap());
    let user = store.user_by_id(ada).await.unwrap().unwrap();
    assert_eq!(user.disabled_at, Some(at));
    let enable = [
        event(root, "admin.user.enable"),
        event(ada, "admin.user.enable"),
    ];
    assert!(store.set_user_disabled(ada, None, &enable).await.unwrap());
    assert_eq!(
        store.user_by_id(ada).await.unwrap().unwrap().disabled_at,
        None
    );

    assert_eq!(
        actions(&store, ada).await,
        ["auth.register", "admin.user.disable", "admin.user.enable"]
    );
    assert_eq!(actions(&store, root).await.len(), 3);
    let missing = store.set_user_disabled(Uuid::now_v7(), Some(at), &[]).await;
    assert!(!missing.unwrap());
}

pub async fn the_last_enabled_admin_cannot_be_disabled_demoted_or_deleted(store: Arc<dyn Store>) {
    let root = admin(&store, "root@example.com").await;
    let audit = [event(root, "admin.user.disable")];

    let disable = store.set_user_disabled(root, Some(now()), &audit).await;
    let demote = store.set_user_role(root, Role::User, now(), &audit).await;
    let delete = store.delete_user(root, &audit).await;

    for result in [disable, demote, delete] {
        let err = result.expect_err("the last admin stays");
        assert!(err.is_conflict_on(Constraint::LastAdmin), "{err:?}");
    }
    assert_eq!(actions(&store, root).await, ["auth.register"]);
    let second = admin(&store, "second@example.com").await;
    assert!(store
        .set_user_role(root, Role::User, now(), &audit)
        .await
        .unwrap());
    let err = store
        .set_user_disabled(second, Some(now()), &audit)
        .await
        .expect_err("now second is the last");
    assert!(err.is_conflict_on(Constraint::LastAdmin));
}

pub async fn a_password_change_revokes_every_other_sign_in(store: Arc<dyn Store>) {
    let ada = registered(&store, "ada@example.com").await.id;
    let (keep, other) = (Uuid::now_v7(), Uuid::now_v7());
    for family in [keep, other] {
        let token = new_token(ada, family, Duration::days(1));
        store.create_refresh_token(&token).await.unwrap();
    }
    assert_eq!(store.sign_ins(ada, now()).await.unwrap().len(), 2);

    let audit = event(ada, "auth.password_change");
    let changed = store.set_password(ada, "$new", Some(keep), now(), &audit);
    assert!(changed.await.unwrap());

    let left = store.sign_ins(ada, now()).await.unwrap();
    assert_eq!(left.iter().map(|s| s.id).collect::<Vec<_>>(), [keep]);
    assert_eq!(left[0].ip.as_deref(), Some("127.0.0.1"));
    assert!(store.sign_in_live(ada, keep).await.unwrap());
    assert!(!store.sign_in_live(ada, other).await.unwrap());
    assert_eq!(
        store.user_by_id(ada).await.unwrap().unwrap().password_hash,
        "$new"
    );
}

pub async fn a_sign_in_is_revoked_only_by_its_owner(store: Arc<dyn Store>) {
    let ada = registered(&store, "ada@example.com").await.id;
    let bob = registered(&store, "bob@example.com").await.id;
    let family = Uuid::now_v7();
    let token = new_token(ada, family, Duration::days(1));
    store.create_refresh_token(&token).await.unwrap();

    let audit = event(bob, "auth.sign_in.revoke");
    let by_bob = store.revoke_sign_in(bob, family, now(), &audit).await;
    assert!(!by_bob.unwrap());
    assert!(store.sign_in_live(ada, family).await.unwrap());
    let audit = event(ada, "auth.sign_in.revoke");
    let by_ada = store.revoke_sign_in(ada, family, now(), &audit).await;
    assert!(by_ada.unwrap());

    assert!(!store.sign_in_live(ada, family).await.unwrap());
    assert!(store.sign_ins(ada, now()).await.unwrap().is_empty());
    assert_eq!(actions(&store, bob).await, ["auth.register"]);
}

pub async fn the_secrets_default_is_all_until_set_to_none(store: Arc<dyn Store>) {
    let ada = registered(&store, "ada@example.com").await.id;
    let before = store.user_by_id(ada).await.unwrap().unwrap();
    assert_eq!(before.secrets_default, SecretsDefault::All);

    let audit = event(ada, "account.settings");
    let set = store.set_secrets_default(ada, SecretsDefault::None, now(), &audit);
    assert!(set.await.unwrap());

    let after = store.user_by_id(ada).await.unwrap().unwrap();
    assert_eq!(after.secrets_default, SecretsDefault::None);
}

pub async fn deleting_a_user_leaves_no_row_of_theirs(store: Arc<dyn Store>) {
    let root = admin(&store, "root@example.com").await;
    let ada = registered(&store, "ada@example.com").await.id;
    store
        .create_api_key(&new_key(ada, "ci"), 50, None)
        .await
        .unwrap();
    let token = new_token(ada, Uuid::now_v7(), Duration::days(1));
    store.create_refresh_token(&token).await.unwrap();
    let secret = sealed(ada, "TOKEN", b"value");
    let audit = event(ada, "secret.put");
    store.put_secret(&secret, None, 10, &audit).await.unwrap();
    let code = zk_code(ada, "prog", "payload");
    store
        .put_zk_code(&code, 10, &event(ada, "zk.put"))
        .await
        .unwrap();

    let buckets = [
        format!("user:{ada}"),
        format!("generate:{ada}"),
        format!("zkpw:{ada}:prog"),
    ];
    let now_ms = now().unix_timestamp() * 1000;
    for key in &buckets {
        let taken = store.rate_limit(key, now_ms, 60_000, 5).await.unwrap();
        assert_eq!(taken.remaining, 4);
    }
    let theirs = format!("user:{root}");
    store.rate_limit(&theirs, now_ms, 60_000, 5).await.unwrap();
    let audit = [event(root, "admin.user.delete")];
    assert!(store.delete_user(ada, &audit).await.unwrap());
    for key in &buckets {
        let left = store.rate_limit_peek(key, now_ms, 60_000, 5).await.unwrap();
        // A peek answers as if taking a cell: 4 of 5 left is a full (unknown) bucket.
        assert_eq!(left.remaining, 4, "{key} outlived its user");
    }
    let kept = store
        .rate_limit_peek(&theirs, now_ms, 60_000, 5)
        .await
        .unwrap();
    assert_eq!(kept.remaining, 3, "another user's bucket is untouched");

    assert!(store.user_by_id(ada).await.unwrap().is_none());
    assert!(store.list_api_keys(ada).await.unwrap().is_empty());
    assert!(store.sign_ins(ada, now()).await.unwrap().is_empty());
    assert!(store.list_secrets(ada).await.unwrap().is_empty());
    assert!(store.list_zk_code(ada).await.unwrap().is_empty());
    assert!(store.audit_chain(ada).await.unwrap().is_empty());
    assert_eq!(
        actions(&store, root).await,
        ["auth.register", "admin.user.delete"]
    );
    assert!(!store.delete_user(ada, &audit).await.unwrap());
}

pub async fn an_invitation_registers_one_account_and_only_before_it_expires(store: Arc<dyn Store>) {
    let root = admin(&store, "root@example.com").await;
    let live = invitation(root, b"live", Duration::hours(1));
    let expired = invitation(root, b"gone", Duration::milliseconds(-1));
    for inv in [&live, &expired] {
        let audit = event(root, "admin.invitation.create");
        store.create_invitation(inv, &audit).await.unwrap();
    }
    let (ada, bob, eve) = (
        new_user("ada@x.org"),
        new_user("bob@x.org"),
        new_user("eve@x.org"),
    );

    register(&store, &live.code_hash, &ada).await.unwrap();
    let again = register(&store, &live.code_hash, &bob).await;
    let late = register(&store, &expired.code_hash, &eve).await;

    for result in [again, late] {
        let err = result.expect_err("unusable");
        assert!(
            err.is_conflict_on(Constraint::InvitationUnusable),
            "{err:?}"
        );
    }
    assert!(store.user_by_id(bob.id).await.unwrap().is_none());
    assert!(store.audit_chain(eve.id).await.unwrap().is_empty());
    let listed = store.list_invitations().await.unwrap();
    let used = listed.iter().find(|i| i.id == live.id).unwrap();
    assert_eq!(used.used_by, Some(ada.id));
    let audit = event(root, "admin.invitation.delete");
    assert!(store.delete_invitation(expired.id, &audit).await.unwrap());
    assert!(!store.delete_invitation(expired.id, &audit).await.unwrap());
}

pub async fn one_invitation_presented_twice_at_once_registers_one_account(store: Arc<dyn Store>) {
    let root = admin(&store, "root@example.com").await;
    let inv = invitation(root, b"race", Duration::hours(1));
    let audit = event(root, "admin.invitation.create");
    store.create_invitation(&inv, &audit).await.unwrap();

    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let code = inv.code_hash.clone();
            tokio::spawn(async move {
                let user = new_user(&format!("u{i}@x.org"));
                let key = new_key(user.id, "default");
                let audit = event(user.id, "auth.register");
                store
                    .register_with_invitation(&code, &user, &key, now(), &audit)
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for attempt in attempts {
        ok += usize::from(attempt.await.unwrap().is_ok());
    }

    assert_eq!(ok, 1);
    assert_eq!(store.list_users(None, 20).await.unwrap().len(), 2);
}
