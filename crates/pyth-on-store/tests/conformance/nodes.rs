//! Backend-specific behaviour outside the shared scenarios: the SQLite file, reconnecting,
//! URL schemes, error classification, and several PostgreSQL "nodes" sharing one database.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use pyth_on_store::testing::{sqlite_url, test_postgres_url};
use pyth_on_store::{connect, verify_chain, ConnectOptions, SqliteStore, Store, StoreError};
use uuid::Uuid;

use crate::support::{event, registered};

#[tokio::test]
async fn a_new_sqlite_database_file_is_readable_by_its_owner_only() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();

    // Act
    let store = connect(&sqlite_url(dir.path())).await.unwrap();
    store
        .append_audit(&event(Uuid::now_v7(), "execute"))
        .await
        .unwrap();

    // Assert
    let mode = std::fs::metadata(dir.path().join("pyth-on.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn reopening_a_sqlite_database_keeps_its_data_and_reapplies_no_migration() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let user = registered(&connect(&url).await.unwrap(), "ada@example.com").await;

    // Act
    let reopened = connect(&url).await.unwrap();

    // Assert
    assert!(reopened.user_by_id(user.id).await.unwrap().is_some());
    assert_eq!(reopened.audit_chain(user.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_unsupported_url_scheme_is_refused() {
    let err = connect("mysql://localhost/db")
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::Other(_)));
    assert!(err.to_string().contains("mysql"), "{err}");
}

#[tokio::test]
async fn a_closed_pool_is_reported_as_unavailable() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&sqlite_url(dir.path()), &ConnectOptions::default())
        .await
        .unwrap();

    // Act
    store.close_readers().await;
    let err = store.ping().await.expect_err("closed");

    // Assert
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_postgres_server_is_reported_as_unavailable() {
    // Arrange: a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = ConnectOptions {
        acquire_timeout: std::time::Duration::from_secs(2),
        ..ConnectOptions::default()
    };

    // Act
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let err = pyth_on_store::connect_with(&url, &options)
        .await
        .err()
        .expect("unreachable");

    // Assert
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_share_one_audit_chain_and_one_rate_limit_bucket() {
    // Arrange: two independent pools on one database, as two server nodes would have.
    let url = test_postgres_url().await;
    let (a, b) = tokio::join!(connect(&url), connect(&url));
    let nodes: [Arc<dyn Store>; 2] = [a.unwrap(), b.unwrap()];
    let user_id = Uuid::now_v7();

    // Act
    let mut handles = Vec::new();
    for i in 0..20 {
        let node = nodes[i % 2].clone();
        handles.push(tokio::spawn(async move {
            node.append_audit(&event(user_id, "execute")).await.unwrap();
            node.rate_limit("user:shared", 0, 100, 10)
                .await
                .unwrap()
                .allowed
        }));
    }
    let mut allowed = 0;
    for h in handles {
        allowed += usize::from(h.await.unwrap());
    }

    // Assert
    let chain = nodes[0].audit_chain(user_id).await.unwrap();
    assert_eq!(chain.len(), 20);
    assert!(verify_chain(&chain).valid);
    assert_eq!(allowed, 10);
    assert!(
        !nodes[1]
            .rate_limit_peek("user:shared", 0, 100, 10)
            .await
            .unwrap()
            .allowed
    );
}
