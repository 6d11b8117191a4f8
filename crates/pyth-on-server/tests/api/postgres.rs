//! The same API on PostgreSQL: a throwaway server (or `PYTH_ON_TEST_POSTGRES`), two server
//! nodes sharing it and the key material, as in a scale-out deployment.

use crate::support::{assert_api_error, settings, TestServer};

#[tokio::test]
async fn two_nodes_on_one_postgres_share_users_secrets_limits_and_the_audit_chain() {
    let url = pyth_on_store::testing::test_postgres_url().await;
    let shared = tempfile::tempdir().unwrap();
    let key_dir = shared.path().join("keys");
    let node = |url: String, key_dir: std::path::PathBuf| {
        move |s: &mut pyth_on_server::Settings| {
            s.database_url = Some(url);
            s.key_dir = Some(key_dir);
            s.rate_limit_per_minute = 30;
        }
    };
    let a = TestServer::start_with(node(url.clone(), key_dir.clone())).await;
    let b = TestServer::start_with(node(url.clone(), key_dir.clone())).await;
    let user = a.user().await;
    let key = user.auth.api_key.clone().unwrap();
    let on_b = b.client.with_api_key(&key);
    on_b.put_secret("FROM_B", "value-from-b").await.unwrap();
    let run = user
        .key
        .execute(&pyth_on_types::ExecuteRequest {
            code: "import os; print(len(os.environ['FROM_B']))".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.output, "12\n");
    // Concurrent writes through both nodes keep one unbroken chain.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let client = if i % 2 == 0 {
            user.key.clone()
        } else {
            on_b.clone()
        };
        tasks.push(tokio::spawn(async move {
            client.put_secret(&format!("S{i}"), "value-x").await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let verification = on_b.verify_audit().await.unwrap();
    assert!(verification.valid);
    // register, a put, the run's start and outcome, ten puts.
    assert_eq!(verification.entries, 14);
    // The rate limit is shared: node b sees the cells node a took.
    let response = on_b
        .request(reqwest::Method::GET, "/api/v1/secrets")
        .send()
        .await
        .unwrap();
    let remaining: u32 = response.headers()["ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(remaining < 30 - 12, "remaining {remaining}");
    let _ = settings;
}

#[tokio::test]
async fn eighty_concurrent_key_creations_through_two_nodes_never_exceed_the_cap() {
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
    let b = TestServer::start_with(node(url, key_dir)).await;
    let user = a.user().await; // registration made the first key
    let on_b = b.client.with_token(user.auth.token.clone());
    let tasks: Vec<_> = (0..80)
        .map(|i| {
            let jwt = if i % 2 == 0 {
                user.jwt.clone()
            } else {
                on_b.clone()
            };
            tokio::spawn(async move { jwt.create_key(&format!("race-{i}")).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            refused => {
                assert_api_error(refused, 409, "too_many_keys");
            }
        }
    }
    let live = on_b.list_keys().await.unwrap().keys.len();
    assert_eq!(live, 50, "{created} created on top of the first key");
    assert_eq!(created, 49);
}

#[tokio::test]
async fn concurrent_writes_to_one_secret_on_postgres_each_answer_their_own_version() {
    let url = pyth_on_store::testing::test_postgres_url().await;
    let server = TestServer::start_with(|s| s.database_url = Some(url)).await;
    let user = server.user().await;
    let answers = crate::secrets::concurrent_puts(&user, "RACED", 100).await;
    crate::secrets::assert_each_answer_describes_its_own_write(&user, &answers).await;
}
