//! Races: many tasks on one pool hitting the same user, token or key at once.

use pyth_on_store::Constraint;
use std::sync::Arc;

use pyth_on_store::{verify_chain, PutOutcome, RefreshOutcome, Store};
use time::Duration;
use uuid::Uuid;

use crate::support::{
    event, new_key, new_token, now, package, registered, sealed, zk_code, KEY_CAP,
};

const N: usize = 20;

async fn join_all<T: Send + 'static>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task panicked"));
    }
    out
}

pub async fn twenty_concurrent_appends_for_one_user_form_one_gapless_valid_chain(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user_id = Uuid::now_v7();

    // Act
    let handles = (0..N)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append_audit(&event(user_id, &format!("execute.{i}")))
                    .await
            })
        })
        .collect();
    let results = join_all(handles).await;

    // Assert
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    let chain = store.audit_chain(user_id).await.unwrap();
    let seqs: Vec<i64> = chain.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<i64>>());
    assert!(verify_chain(&chain).valid);
}

pub async fn concurrent_rotations_of_one_token_rotate_once_and_detect_the_reuse(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let token = new_token(user.id, Uuid::now_v7(), Duration::days(1));
    store.create_refresh_token(&token).await.unwrap();

    // Act
    let handles = (0..4)
        .map(|_| {
            let store = store.clone();
            let hash = token.token_hash.clone();
            tokio::spawn(async move {
                store
                    .rotate_refresh_token(
                        &hash,
                        &new_token(Uuid::nil(), Uuid::nil(), Duration::days(1)),
                        now(),
                        &event(Uuid::nil(), "auth.refresh"),
                        &event(Uuid::nil(), "auth.refresh_reuse"),
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let outcomes = join_all(handles).await;

    // Assert: one winner, the first loser sees the reuse, later ones a revoked family.
    let count = |f: fn(&RefreshOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    assert_eq!(count(|o| matches!(o, RefreshOutcome::Rotated { .. })), 1);
    assert_eq!(count(|o| matches!(o, RefreshOutcome::Reused { .. })), 1);
    assert_eq!(count(|o| *o == RefreshOutcome::Invalid), 2);
    let chain = store.audit_chain(user.id).await.unwrap();
    assert_eq!(chain.len(), 3);
    assert!(verify_chain(&chain).valid);
}

pub async fn concurrent_creates_cannot_exceed_the_secret_quota(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let quota = 5;

    // Act
    let handles = (0..N)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .put_secret(
                        &sealed(user.id, &format!("S{i}"), b"x"),
                        None,
                        quota,
                        &event(user.id, "secret.put"),
                    )
                    .await
            })
        })
        .collect();
    let results = join_all(handles).await;

    // Assert
    let created = results
        .iter()
        .filter(|r| matches!(r, Ok(PutOutcome::Created)))
        .count();
    assert_eq!(created, 5);
    for r in &results {
        if let Err(e) = r {
            assert!(e.is_conflict_on(Constraint::SecretQuota), "{e:?}");
        }
    }
    assert_eq!(store.list_secrets(user.id).await.unwrap().len(), 5);
}

pub async fn concurrent_requests_share_one_rate_limit_bucket(store: Arc<dyn Store>) {
    // Act
    let handles = (0..N)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.rate_limit("shared", 1_000, 100, 10).await.unwrap() })
        })
        .collect();
    let decisions = join_all(handles).await;

    // Assert
    assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 10);
    let mut remaining: Vec<u32> = decisions
        .iter()
        .filter(|d| d.allowed)
        .map(|d| d.remaining)
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, (0..10).collect::<Vec<u32>>());
}

pub async fn ten_concurrent_claims_of_one_env_elect_exactly_one_builder(store: Arc<dyn Store>) {
    // Arrange
    let at = now();

    // Act
    let handles = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .claim_package_env_build("env", "python", at, 60_000)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let claims = join_all(handles).await;

    // Assert
    assert_eq!(claims.iter().filter(|c| **c).count(), 1);
    assert_eq!(store.list_package_envs().await.unwrap().len(), 1);
}

pub async fn ten_concurrent_takeovers_of_a_stale_claim_elect_exactly_one_builder(
    store: Arc<dyn Store>,
) {
    // Arrange
    let t0 = now();
    assert!(store
        .claim_package_env_build("env", "python", t0, 1_000)
        .await
        .unwrap());
    let later = t0 + Duration::seconds(5);

    // Act
    let handles = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .claim_package_env_build("env", "python", later, 1_000)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let claims = join_all(handles).await;

    // Assert
    assert_eq!(claims.iter().filter(|c| **c).count(), 1);
    let row = store.get_package_env("env").await.unwrap().unwrap();
    assert_eq!((row.created_at, row.updated_at), (t0, later));
}

pub async fn concurrent_adds_cannot_exceed_the_package_quota(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;

    // Act
    let handles = (0..N)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let name = format!("pkg{i}");
                store
                    .add_package(
                        &package(user.id, "python", &name, &name),
                        5,
                        &event(user.id, "package.add"),
                    )
                    .await
            })
        })
        .collect();
    let results = join_all(handles).await;

    // Assert
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 5);
    for r in &results {
        if let Err(e) = r {
            assert!(e.is_conflict_on(Constraint::PackageQuota), "{e:?}");
        }
    }
    assert_eq!(store.list_packages(user.id).await.unwrap().len(), 5);
    let chain = store.audit_chain(user.id).await.unwrap();
    assert_eq!(chain.len(), 6);
    assert!(verify_chain(&chain).valid);
}

pub async fn concurrent_puts_cannot_exceed_the_zk_code_quota(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;

    // Act
    let handles = (0..N)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .put_zk_code(
                        &zk_code(user.id, &format!("z{i}"), "x"),
                        5,
                        &event(user.id, "zk.store"),
                    )
                    .await
            })
        })
        .collect();
    let results = join_all(handles).await;

    // Assert
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 5);
    for r in &results {
        if let Err(e) = r {
            assert!(e.is_conflict_on(Constraint::ZkCodeQuota), "{e:?}");
        }
    }
    assert_eq!(store.list_zk_code(user.id).await.unwrap().len(), 5);
}

pub async fn eighty_concurrent_key_creations_never_exceed_the_cap(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;

    // Act
    let handles = (0..80)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .create_api_key(
                        &new_key(user.id, &format!("k{i}")),
                        KEY_CAP,
                        Some(&event(user.id, "key.create")),
                    )
                    .await
            })
        })
        .collect();
    let results = join_all(handles).await;

    // Assert
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 50);
    for r in &results {
        if let Err(e) = r {
            assert!(e.is_conflict_on(Constraint::ApiKeyQuota), "{e:?}");
        }
    }
    assert_eq!(store.list_api_keys(user.id).await.unwrap().len(), 50);
    let chain = store.audit_chain(user.id).await.unwrap();
    assert_eq!(
        chain.len(),
        51,
        "one entry per created key, none for a refusal"
    );
    assert!(verify_chain(&chain).valid);
}

pub async fn concurrent_adds_and_list_replacements_never_exceed_the_package_quota(
    store: Arc<dyn Store>,
) {
    // Arrange: every replacement brings the list to the quota; every add wants one more.
    let user = registered(&store, "ada@example.com").await;
    let quota = 5;

    // Act
    let handles = (0..N)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let name = format!("p{i}");
                if i % 2 == 0 {
                    let rows: Vec<_> = (0..quota)
                        .map(|j| package(user.id, "python", &format!("{name}-{j}"), "x"))
                        .collect();
                    let audit = event(user.id, "package.set");
                    store
                        .set_packages(user.id, "python", &rows, quota, &audit)
                        .await
                } else {
                    let row = package(user.id, "python", &name, "x");
                    let audit = event(user.id, "package.add");
                    store.add_package(&row, quota, &audit).await.map(|_| ())
                }
            })
        })
        .collect();
    let results = join_all(handles).await;

    // Assert
    for r in &results {
        if let Err(e) = r {
            assert!(e.is_conflict_on(Constraint::PackageQuota), "{e:?}");
        }
    }
    let count = store.list_packages(user.id).await.unwrap().len();
    assert!(count <= 5, "{count} packages with a quota of 5");
    let chain = store.audit_chain(user.id).await.unwrap();
    assert_eq!(
        chain.len(),
        1 + results.iter().filter(|r| r.is_ok()).count()
    );
    assert!(verify_chain(&chain).valid);
}

pub async fn concurrent_refunds_give_back_one_cell_each_and_never_more_than_the_burst(
    store: Arc<dyn Store>,
) {
    // Arrange: an empty bucket of 10.
    for _ in 0..10 {
        assert!(
            store
                .rate_limit("zk", 1_000, 100, 10)
                .await
                .unwrap()
                .allowed
        );
    }

    // Act: 4 refunds at once, then the 4 cells they freed are taken, then 30 refunds at once.
    let refund_all = |n: usize| {
        let handles = (0..n)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.rate_limit_refund("zk", 1_000, 100).await })
            })
            .collect();
        join_all(handles)
    };
    let take = |n: usize| {
        let store = store.clone();
        async move {
            let mut allowed = 0;
            for _ in 0..n {
                allowed += usize::from(
                    store
                        .rate_limit("zk", 1_000, 100, 10)
                        .await
                        .unwrap()
                        .allowed,
                );
            }
            allowed
        }
    };
    assert!(refund_all(4).await.iter().all(Result::is_ok));
    let after_four = take(5).await;
    assert!(refund_all(30).await.iter().all(Result::is_ok));
    let after_thirty = take(11).await;

    // Assert
    assert_eq!(after_four, 4, "four refunds free exactly four cells");
    assert_eq!(after_thirty, 10, "a bucket never holds more than its burst");
}
