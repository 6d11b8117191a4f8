//! `PackageStore` scenarios for the shared package environments: build claims, stale
//! takeovers, finishing, use tracking, listing for garbage collection, deletion.

use std::sync::Arc;

use pyth_on_store::{PackageEnvRow, Store, StoreError};
use time::Duration;

use crate::support::now;

const KEY: &str = "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea";
const STALE_MS: i64 = 60_000;

pub async fn claiming_an_unknown_env_inserts_a_building_row_and_only_once(store: Arc<dyn Store>) {
    // Arrange
    let t0 = now();

    // Act
    let first = store
        .claim_package_env_build(KEY, "python", t0, STALE_MS)
        .await
        .unwrap();
    let second = store
        .claim_package_env_build(KEY, "python", t0 + Duration::seconds(1), STALE_MS)
        .await
        .unwrap();

    // Assert
    assert!(first);
    assert!(!second);
    let row = store.get_package_env(KEY).await.unwrap();
    let expected = PackageEnvRow {
        env_key: KEY.to_owned(),
        language: "python".to_owned(),
        status: "building".to_owned(),
        error: None,
        size_bytes: 0,
        created_at: t0,
        updated_at: t0,
        last_used_at: t0,
    };
    assert_eq!(row, Some(expected));
    assert!(store.get_package_env("unknown").await.unwrap().is_none());
}

pub async fn a_stale_building_claim_is_taken_over_and_a_fresh_one_is_not(store: Arc<dyn Store>) {
    // Arrange
    let t0 = now();
    assert!(store
        .claim_package_env_build(KEY, "python", t0, STALE_MS)
        .await
        .unwrap());
    let at_limit = t0 + Duration::milliseconds(STALE_MS);
    let past_limit = at_limit + Duration::milliseconds(1);

    // Act
    let fresh = store
        .claim_package_env_build(KEY, "python", at_limit, STALE_MS)
        .await
        .unwrap();
    let stale = store
        .claim_package_env_build(KEY, "python", past_limit, STALE_MS)
        .await
        .unwrap();
    let right_after = store
        .claim_package_env_build(KEY, "python", past_limit, STALE_MS)
        .await
        .unwrap();

    // Assert
    assert!(!fresh);
    assert!(stale);
    assert!(!right_after);
    let row = store.get_package_env(KEY).await.unwrap().unwrap();
    assert_eq!(row.status, "building");
    assert_eq!(row.created_at, t0);
    assert_eq!(row.updated_at, past_limit);
}

pub async fn finished_envs_are_never_claimed_until_deleted(store: Arc<dyn Store>) {
    // Arrange
    let t0 = now();
    let later = t0 + Duration::days(30);
    for (key, status) in [("ready-env", "ready"), ("failed-env", "failed")] {
        assert!(store
            .claim_package_env_build(key, "python", t0, STALE_MS)
            .await
            .unwrap());
        store
            .finish_package_env(key, status, None, 1, t0)
            .await
            .unwrap();
    }

    // Act
    let ready = store
        .claim_package_env_build("ready-env", "python", later, STALE_MS)
        .await
        .unwrap();
    let failed = store
        .claim_package_env_build("failed-env", "python", later, STALE_MS)
        .await
        .unwrap();
    let deleted = store.delete_package_env("failed-env").await.unwrap();
    let retried = store
        .claim_package_env_build("failed-env", "python", later, STALE_MS)
        .await
        .unwrap();

    // Assert
    assert!(!ready);
    assert!(!failed);
    assert!(deleted);
    assert!(retried);
    let row = store.get_package_env("failed-env").await.unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.created_at), ("building", later));
}

pub async fn finishing_a_build_records_its_outcome_and_a_missing_env_is_not_found(
    store: Arc<dyn Store>,
) {
    // Arrange
    let t0 = now();
    let t1 = t0 + Duration::minutes(2);
    for key in ["ok", "bad"] {
        store
            .claim_package_env_build(key, "javascript", t0, STALE_MS)
            .await
            .unwrap();
    }

    // Act
    store
        .finish_package_env("ok", "ready", None, 123_456_789, t1)
        .await
        .unwrap();
    store
        .finish_package_env("bad", "failed", Some("No matching version"), 0, t1)
        .await
        .unwrap();
    let missing = store
        .finish_package_env("missing", "ready", None, 1, t1)
        .await
        .expect_err("no such env");

    // Assert
    let ok = store.get_package_env("ok").await.unwrap().unwrap();
    assert_eq!(
        (ok.status.as_str(), ok.error.as_deref(), ok.size_bytes),
        ("ready", None, 123_456_789)
    );
    assert_eq!(
        (ok.created_at, ok.updated_at, ok.last_used_at),
        (t0, t1, t1)
    );
    assert_eq!(ok.language, "javascript");
    let bad = store.get_package_env("bad").await.unwrap().unwrap();
    assert_eq!(
        (bad.status.as_str(), bad.error.as_deref()),
        ("failed", Some("No matching version"))
    );
    assert!(matches!(missing, StoreError::NotFound), "{missing:?}");
    assert!(store.get_package_env("missing").await.unwrap().is_none());
}

pub async fn touching_an_env_records_its_use_without_refreshing_a_build_claim(
    store: Arc<dyn Store>,
) {
    // Arrange
    let t0 = now();
    let t1 = t0 + Duration::milliseconds(STALE_MS * 2);
    store
        .claim_package_env_build(KEY, "python", t0, STALE_MS)
        .await
        .unwrap();

    // Act
    store.touch_package_env(KEY, t1).await.unwrap();
    store.touch_package_env("unknown", t1).await.unwrap();
    let taken_over = store
        .claim_package_env_build(KEY, "python", t1, STALE_MS)
        .await
        .unwrap();

    // Assert
    assert!(taken_over);
    let row = store.get_package_env(KEY).await.unwrap().unwrap();
    assert_eq!((row.updated_at, row.last_used_at), (t1, t1));
    assert!(store.get_package_env("unknown").await.unwrap().is_none());
}

pub async fn envs_are_listed_least_recently_used_first_and_deleted_by_key(store: Arc<dyn Store>) {
    // Arrange
    let t0 = now();
    for key in ["c", "b", "a"] {
        store
            .claim_package_env_build(key, "python", t0, STALE_MS)
            .await
            .unwrap();
    }
    store
        .touch_package_env("a", t0 + Duration::hours(1))
        .await
        .unwrap();

    // Act
    let listed: Vec<String> = store
        .list_package_envs()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.env_key)
        .collect();
    let deleted = store.delete_package_env("b").await.unwrap();
    let deleted_again = store.delete_package_env("b").await.unwrap();

    // Assert
    assert_eq!(listed, ["b", "c", "a"]);
    assert!(deleted);
    assert!(!deleted_again);
    let left: Vec<String> = store
        .list_package_envs()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.env_key)
        .collect();
    assert_eq!(left, ["c", "a"]);
}
