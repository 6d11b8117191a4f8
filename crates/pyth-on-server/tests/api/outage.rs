//! A database that stops answering: with PostgreSQL frozen (SIGSTOP on every process of a
//! server of the test's own), every request gets a clean 503 within the statement timeout,
//! health names the database, shutdown is not held up, and service resumes by itself.

use std::time::{Duration, Instant};

use pyth_on_store::testing::PrivatePostgres;
use reqwest::Method;

use crate::support::{assert_api_error, TestServer};

/// Statement and acquisition bound of the servers under test.
const BOUND_MS: u64 = 1_000;

async fn server_on(url: String) -> TestServer {
    TestServer::start_with(move |s| {
        s.database_url = Some(url);
        s.database.database_statement_timeout_ms = BOUND_MS;
        s.database.database_acquire_timeout_ms = BOUND_MS;
    })
    .await
}

#[tokio::test]
async fn a_frozen_postgres_gets_clean_503s_in_bounded_time_and_service_resumes_after() {
    let pg = tokio::task::spawn_blocking(PrivatePostgres::start)
        .await
        .unwrap();
    let server = server_on(pg.fresh_database_url().await).await;
    let user = server.user().await;
    user.key.put_secret("BEFORE", "value-1").await.unwrap();

    let run = pyth_on_types::ExecuteRequest {
        code: "print(1)".into(),
        ..Default::default()
    };
    pg.signal("STOP");
    let started = Instant::now();
    let (listed, written, ran, health) = tokio::join!(
        user.key.list_secrets(),
        user.key.put_secret("DURING", "value-2"),
        user.key.execute(&run),
        server.client.request(Method::GET, "/api/health").send(),
    );
    let took = started.elapsed();
    pg.signal("CONT");

    assert_api_error(listed, 503, "database_unavailable");
    assert_api_error(written, 503, "database_unavailable");
    assert_api_error(ran, 503, "database_unavailable");
    let health = health.unwrap();
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "unavailable", "{body}");
    // Each waited at most its bounds (a connection, then a statement), not the freeze.
    assert!(
        took < Duration::from_millis(3 * BOUND_MS + 1_500),
        "{took:?}"
    );

    // Thawed: the service answers again by itself, and nothing half-written shows.
    let mut recovered = false;
    for _ in 0..100 {
        if user.key.list_secrets().await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the service did not recover after the thaw");
    let names: Vec<String> = user
        .key
        .list_secrets()
        .await
        .unwrap()
        .secrets
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(names.contains(&"BEFORE".to_owned()), "{names:?}");
    assert!(user.key.verify_audit().await.unwrap().valid);
}

#[tokio::test]
async fn a_server_stops_promptly_while_its_postgres_is_frozen() {
    let pg = tokio::task::spawn_blocking(PrivatePostgres::start)
        .await
        .unwrap();
    let server = server_on(pg.fresh_database_url().await).await;
    let user = server.user().await;

    pg.signal("STOP");
    let client = user.key.clone();
    let in_flight = tokio::spawn(async move { client.list_secrets().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let stopped = tokio::time::timeout(Duration::from_secs(10), server.stop()).await;
    let took = started.elapsed();
    pg.signal("CONT");

    assert!(stopped.is_ok(), "the server was still draining after 10 s");
    assert!(
        took < Duration::from_millis(2 * BOUND_MS + 2_000),
        "{took:?}"
    );
    assert!(in_flight.await.unwrap().is_err());
}
