//! `PackageStore` scenarios for users' package lists: add, replace, quota per language,
//! whole-list replacement, isolation, removal.

use pyth_on_store::Constraint;
use std::sync::Arc;

use pyth_on_store::{PutOutcome, Store};
use time::Duration;

use crate::support::{actions, event, now, package, package_list, registered};

const QUOTA: u32 = 50;

fn triple(language: &str, name: &str, spec: &str) -> (String, String, String) {
    (language.to_owned(), name.to_owned(), spec.to_owned())
}

pub async fn adding_a_package_creates_it_and_audits_once(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let row = package(user.id, "python", "requests", "requests==2.32.3");

    // Act
    let outcome = store
        .add_package(&row, QUOTA, &event(user.id, "package.add"))
        .await
        .unwrap();

    // Assert
    assert_eq!(outcome, PutOutcome::Created);
    assert_eq!(store.list_packages(user.id).await.unwrap(), [row]);
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "package.add"]
    );
}

pub async fn adding_the_same_name_again_replaces_its_spec_and_added_at(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let mut old = package(user.id, "python", "numpy", "numpy>=1");
    old.added_at = now() - Duration::days(1);
    store
        .add_package(&old, QUOTA, &event(user.id, "package.add"))
        .await
        .unwrap();
    let new = package(user.id, "python", "numpy", "numpy>=2");

    // Act
    let outcome = store
        .add_package(&new, 1, &event(user.id, "package.add"))
        .await
        .unwrap();

    // Assert: replacing is allowed at the quota, and the row is the new one.
    assert_eq!(outcome, PutOutcome::Replaced);
    assert_eq!(store.list_packages(user.id).await.unwrap(), [new]);
    assert_eq!(actions(&store, user.id).await.len(), 3);
}

pub async fn packages_are_listed_by_language_then_name(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    let rows = [
        ("python", "requests", "requests"),
        ("javascript", "lodash", "lodash@4.17.21"),
        ("python", "numpy", "numpy>=2"),
        ("javascript", "@types/node", "@types/node"),
    ];

    // Act
    for (language, name, spec) in rows {
        store
            .add_package(
                &package(user.id, language, name, spec),
                QUOTA,
                &event(user.id, "package.add"),
            )
            .await
            .unwrap();
    }

    // Assert
    assert_eq!(
        package_list(&store, user.id).await,
        [
            triple("javascript", "@types/node", "@types/node"),
            triple("javascript", "lodash", "lodash@4.17.21"),
            triple("python", "numpy", "numpy>=2"),
            triple("python", "requests", "requests"),
        ]
    );
}

pub async fn the_package_quota_counts_per_language_and_a_refusal_writes_nothing(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    for name in ["a", "b"] {
        store
            .add_package(
                &package(user.id, "python", name, name),
                2,
                &event(user.id, "package.add"),
            )
            .await
            .unwrap();
    }

    // Act
    let third = store
        .add_package(
            &package(user.id, "python", "c", "c"),
            2,
            &event(user.id, "package.add"),
        )
        .await
        .expect_err("over quota");
    let audit_after_refusal = actions(&store, user.id).await.len();
    let other_language = store
        .add_package(
            &package(user.id, "javascript", "c", "c"),
            2,
            &event(user.id, "package.add"),
        )
        .await
        .unwrap();

    // Assert
    assert!(third.is_conflict_on(Constraint::PackageQuota), "{third:?}");
    assert_eq!(audit_after_refusal, 3);
    assert_eq!(other_language, PutOutcome::Created);
    assert_eq!(
        package_list(&store, user.id).await,
        [
            triple("javascript", "c", "c"),
            triple("python", "a", "a"),
            triple("python", "b", "b"),
        ]
    );
}

pub async fn setting_packages_replaces_only_that_languages_list(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    for (language, name) in [("python", "a"), ("python", "b"), ("javascript", "x")] {
        store
            .add_package(
                &package(user.id, language, name, name),
                QUOTA,
                &event(user.id, "package.add"),
            )
            .await
            .unwrap();
    }
    // The rows' own user and language are ignored: the arguments win.
    let stray = package(uuid::Uuid::nil(), "javascript", "c", "c==1");

    // Act
    store
        .set_packages(
            user.id,
            "python",
            &[package(user.id, "python", "b", "b>=2"), stray],
            QUOTA,
            &event(user.id, "package.set"),
        )
        .await
        .unwrap();
    store
        .set_packages(
            user.id,
            "javascript",
            &[],
            QUOTA,
            &event(user.id, "package.set"),
        )
        .await
        .unwrap();

    // Assert
    assert_eq!(
        package_list(&store, user.id).await,
        [triple("python", "b", "b>=2"), triple("python", "c", "c==1")]
    );
    let chain = actions(&store, user.id).await;
    assert_eq!(chain[4..], ["package.set", "package.set"]);
}

pub async fn setting_a_list_with_a_duplicate_name_is_a_conflict_and_writes_nothing(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    store
        .add_package(
            &package(user.id, "python", "keep", "keep"),
            QUOTA,
            &event(user.id, "package.add"),
        )
        .await
        .unwrap();
    let rows = [
        package(user.id, "python", "dup", "dup==1"),
        package(user.id, "python", "dup", "dup==2"),
    ];

    // Act
    let err = store
        .set_packages(
            user.id,
            "python",
            &rows,
            QUOTA,
            &event(user.id, "package.set"),
        )
        .await
        .expect_err("duplicate name");

    // Assert
    assert!(err.is_conflict_on(Constraint::PackagePkey), "{err:?}");
    assert_eq!(
        package_list(&store, user.id).await,
        [triple("python", "keep", "keep")]
    );
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "package.add"]
    );
}

pub async fn another_users_packages_are_invisible(store: Arc<dyn Store>) {
    // Arrange
    let ada = registered(&store, "ada@example.com").await;
    let eve = registered(&store, "eve@example.com").await;
    store
        .add_package(
            &package(ada.id, "python", "requests", "requests"),
            1,
            &event(ada.id, "package.add"),
        )
        .await
        .unwrap();

    // Act
    let listed_for_eve = store.list_packages(eve.id).await.unwrap();
    let removed_by_eve = store
        .remove_package(
            eve.id,
            "python",
            "requests",
            &event(eve.id, "package.remove"),
        )
        .await
        .unwrap();
    store
        .set_packages(eve.id, "python", &[], QUOTA, &event(eve.id, "package.set"))
        .await
        .unwrap();
    let eves_own = store
        .add_package(
            &package(eve.id, "python", "requests", "requests==1"),
            1,
            &event(eve.id, "package.add"),
        )
        .await
        .unwrap();

    // Assert
    assert!(listed_for_eve.is_empty());
    assert!(!removed_by_eve);
    assert_eq!(eves_own, PutOutcome::Created);
    assert_eq!(
        package_list(&store, ada.id).await,
        [triple("python", "requests", "requests")]
    );
    assert_eq!(
        actions(&store, eve.id).await,
        ["auth.register", "package.set", "package.add"]
    );
}

pub async fn removing_a_package_audits_once_and_reports_a_missing_one(store: Arc<dyn Store>) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    store
        .add_package(
            &package(user.id, "python", "six", "six"),
            QUOTA,
            &event(user.id, "package.add"),
        )
        .await
        .unwrap();

    // Act
    let wrong_language = store
        .remove_package(
            user.id,
            "javascript",
            "six",
            &event(user.id, "package.remove"),
        )
        .await
        .unwrap();
    let first = store
        .remove_package(user.id, "python", "six", &event(user.id, "package.remove"))
        .await
        .unwrap();
    let second = store
        .remove_package(user.id, "python", "six", &event(user.id, "package.remove"))
        .await
        .unwrap();

    // Assert
    assert!(!wrong_language);
    assert!(first);
    assert!(!second);
    assert!(store.list_packages(user.id).await.unwrap().is_empty());
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "package.add", "package.remove"]
    );
}

pub async fn setting_more_packages_than_the_quota_is_a_conflict_and_writes_nothing(
    store: Arc<dyn Store>,
) {
    // Arrange
    let user = registered(&store, "ada@example.com").await;
    store
        .add_package(
            &package(user.id, "python", "keep", "keep"),
            2,
            &event(user.id, "package.add"),
        )
        .await
        .unwrap();
    let rows: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|n| package(user.id, "python", n, n))
        .collect();

    // Act
    let err = store
        .set_packages(user.id, "python", &rows, 2, &event(user.id, "package.set"))
        .await
        .expect_err("three packages with a quota of two");
    let at_quota = store
        .set_packages(
            user.id,
            "python",
            &rows[..2],
            2,
            &event(user.id, "package.set"),
        )
        .await;

    // Assert
    assert!(err.is_conflict_on(Constraint::PackageQuota), "{err:?}");
    assert!(at_quota.is_ok(), "{at_quota:?}");
    assert_eq!(
        package_list(&store, user.id).await,
        [triple("python", "a", "a"), triple("python", "b", "b")]
    );
    assert_eq!(
        actions(&store, user.id).await,
        ["auth.register", "package.add", "package.set"]
    );
}
