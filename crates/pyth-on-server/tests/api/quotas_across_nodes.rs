//! Quotas across two nodes sharing one PostgreSQL: the day's runs are counted in the database
//! (20 concurrent runs through both nodes against a quota of 5 start exactly 5), and the
//! sessions quota counts the sessions open on every node.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::quota_support::{execute, refused};
use crate::sessions_across_nodes::{Cluster, Ending};
use crate::support::TestServer;

#[tokio::test]
async fn twenty_concurrent_runs_through_two_nodes_against_a_quota_of_five_start_exactly_five() {
    let url = pyth_on_store::testing::test_postgres_url().await;
    let shared = tempfile::tempdir().unwrap();
    let node = |uid_start: u32| {
        let (url, keys) = (url.clone(), shared.path().join("keys"));
        move |s: &mut pyth_on_server::Settings| {
            s.database_url = Some(url);
            s.key_dir = Some(keys);
            s.quotas.quota_runs_per_day = 5;
            (s.runs.run_uid_start, s.runs.run_uid_count) = (uid_start, 64);
        }
    };
    let a = TestServer::start_with(node(1_650_700_000)).await;
    let b = TestServer::start_with(node(1_650_700_100)).await;
    let user = a.user().await;
    let on_b = b.client.with_api_key(user.auth.api_key.clone().unwrap());

    let runs: Vec<_> = (0..20)
        .map(|i| {
            let client = if i % 2 == 0 {
                user.key.clone()
            } else {
                on_b.clone()
            };
            tokio::spawn(async move { execute(&client, "print('ran')").await })
        })
        .collect();
    let mut started = 0;
    for run in runs {
        let response = run.await.unwrap();
        if response.status() == StatusCode::OK {
            started += 1;
        } else {
            refused(response, "runsPerDay").await;
        }
    }

    assert_eq!(started, 5);
    let usage = on_b.usage().await.unwrap();
    assert_eq!((usage.runs.used, usage.runs.limit), (5.0, Some(5)));
    assert!(
        usage.cpu_seconds.used > 0.0,
        "the runs' CPU is on the day: {usage:?}"
    );
}

#[tokio::test]
async fn the_sessions_quota_counts_the_sessions_open_on_every_node() {
    let cluster = Cluster::new().await;
    let one = |s: &mut pyth_on_server::Settings| s.quotas.quota_sessions_per_user = 1;
    let a = cluster
        .node_with(None, 1_650_700_200..1_650_700_208, one)
        .await;
    let b = cluster
        .node_with(None, 1_650_700_300..1_650_700_308, one)
        .await;
    let auth = a
        .client
        .register("quota@example.com", "correct horse battery staple")
        .await
        .unwrap();
    let key = auth.api_key.unwrap();
    let (on_a, on_b) = (a.client.with_api_key(&key), b.client.with_api_key(&key));
    let first = crate::session_support::open(&on_a, json!({})).await;

    let second = on_b
        .request(Method::POST, "/api/v1/sessions")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (_, details, retry_after) = refused(second, "sessions").await;
    let usage = on_b.usage().await.unwrap();
    on_a.delete_session(first.id).await.unwrap();
    let after_the_end = crate::session_support::open(&on_b, json!({})).await;

    assert_eq!(
        (details["limit"].as_u64(), details["used"].as_f64()),
        (Some(1), Some(1.0))
    );
    assert_eq!(retry_after, None);
    assert_eq!((usage.sessions.used, usage.sessions.limit), (1.0, Some(1)));
    on_b.delete_session(after_the_end.id).await.unwrap();
    a.finish(Ending::Stop).await;
    b.finish(Ending::Stop).await;
}
