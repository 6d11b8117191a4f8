//! Secrets: sealed at rest, listed without values, injected into the owner's runs, redacted.

use pyth_on_types::ExecuteRequest;

use crate::support::{assert_api_error, TestServer};

#[tokio::test]
async fn a_secret_is_created_replaced_listed_and_deleted() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let created = user
        .key
        .put_secret("API_TOKEN", "first-value")
        .await
        .unwrap();
    assert_eq!(created.version, 1);
    let status = user
        .key
        .request(reqwest::Method::PUT, "/api/v1/secrets/API_TOKEN")
        .json(&serde_json::json!({"value": "second-value"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let replaced: pyth_on_types::SecretMetadata = status.json().await.unwrap();
    assert_eq!(replaced.version, 2);
    assert_eq!(replaced.created_at, created.created_at);
    user.key.put_secret("A_FIRST", "zzzz").await.unwrap();
    let list = user.key.list_secrets().await.unwrap();
    let names: Vec<&str> = list.secrets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["API_TOKEN", "A_FIRST"]);
    let raw = serde_json::to_string(&list).unwrap();
    assert!(!raw.contains("second-value"));
    user.key.delete_secret("API_TOKEN").await.unwrap();
    assert_api_error(user.key.delete_secret("API_TOKEN").await, 404, "not_found");
    let actions: Vec<String> = user
        .key
        .audit(None, None, Some("secret."))
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        ["secret.delete", "secret.put", "secret.put", "secret.put"]
    );
}

#[tokio::test]
async fn bad_names_reserved_names_and_bad_values_are_refused() {
    let server = TestServer::start().await;
    let user = server.user().await;
    assert_api_error(
        user.key.put_secret("lower", "value").await,
        400,
        "invalid_name",
    );
    assert_api_error(
        user.key.put_secret("9START", "value").await,
        400,
        "invalid_name",
    );
    for reserved in [
        "PATH",
        "HOME",
        "LD_PRELOAD",
        "PYTHONPATH",
        "NODE_OPTIONS",
        "TMPDIR",
        "BASH_ENV",
    ] {
        assert_api_error(
            user.key.put_secret(reserved, "value").await,
            400,
            "reserved_name",
        );
    }
    assert_api_error(
        user.key.put_secret("EMPTY", "").await,
        400,
        "validation_failed",
    );
    assert_api_error(
        user.key.put_secret("BIG", &"x".repeat(32 * 1024 + 1)).await,
        413,
        "payload_too_large",
    );
    user.key
        .put_secret("EXACTLY_MAX", &"x".repeat(32 * 1024))
        .await
        .unwrap();
    assert_eq!(user.key.list_secrets().await.unwrap().secrets.len(), 1);
}

#[tokio::test]
async fn the_number_of_secrets_per_user_is_bounded() {
    let server = TestServer::start_with(|s| s.max_secrets_per_user = 2).await;
    let user = server.user().await;
    user.key.put_secret("ONE", "value-1").await.unwrap();
    user.key.put_secret("TWO", "value-2").await.unwrap();
    assert_api_error(
        user.key.put_secret("THREE", "value-3").await,
        400,
        "too_many_secrets",
    );
    // Replacing an existing one is still allowed.
    user.key.put_secret("TWO", "value-2b").await.unwrap();
}

#[tokio::test]
async fn users_never_see_each_others_secrets() {
    let server = TestServer::start().await;
    let alice = server.user().await;
    let bob = server.user().await;
    alice
        .key
        .put_secret("SHARED_NAME", "alice-only-value")
        .await
        .unwrap();
    assert!(bob.key.list_secrets().await.unwrap().secrets.is_empty());
    assert_api_error(bob.key.delete_secret("SHARED_NAME").await, 404, "not_found");
    let run = bob
        .key
        .execute(&ExecuteRequest {
            code: "import os; print(os.environ.get('SHARED_NAME', 'absent'))".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.output, "absent\n");
}

#[tokio::test]
async fn secrets_reach_the_owners_run_as_environment_variables_and_are_redacted() {
    let server = TestServer::start().await;
    let user = server.user().await;
    user.key
        .put_secret("SERVICE_TOKEN", "tok-8c1f2e")
        .await
        .unwrap();
    user.key.put_secret("SHORT", "abc").await.unwrap();
    let run = user
        .key
        .execute(&ExecuteRequest {
            code: "import os, sys\nv = os.environ['SERVICE_TOKEN']\nprint(v, len(v), os.environ['SHORT'])\nprint(v[::-1], file=sys.stderr)\nprint(v, file=sys.stderr)".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.exit_code, 0, "{run:?}");
    assert_eq!(run.output, "*** 10 abc\n");
    assert_eq!(run.error, "e2f1c8-kot\n***\n");
    let js = user
        .key
        .execute(&ExecuteRequest {
            code: "console.log(process.env.SERVICE_TOKEN.length, process.env.SERVICE_TOKEN)".into(),
            language: Some("javascript".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(js.output, "10 ***\n");
}

#[tokio::test]
async fn secret_values_are_not_stored_in_clear_in_the_database_or_its_wal() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let value = "clear-text-canary-4f1d9a";
    user.key.put_secret("CANARY", value).await.unwrap();
    user.key.put_secret("CANARY", value).await.unwrap();
    for entry in std::fs::read_dir(server.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "{} holds the secret in clear",
                path.display()
            );
        }
    }
}

/// Puts `name` from `writers` concurrent requests; each answer's status and body.
pub async fn concurrent_puts(
    user: &crate::support::TestUser,
    name: &str,
    writers: usize,
) -> Vec<(u16, serde_json::Value)> {
    let puts = (0..writers).map(|i| {
        let req = user
            .key
            .request(reqwest::Method::PUT, &format!("/api/v1/secrets/{name}"))
            .json(&serde_json::json!({ "value": format!("value-{i}") }));
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    });
    futures::future::join_all(puts).await
}

/// Each successful answer describes its own write: distinct versions, none missing, and the
/// stored version is the highest one answered.
pub async fn assert_each_answer_describes_its_own_write(
    user: &crate::support::TestUser,
    answers: &[(u16, serde_json::Value)],
) {
    let mut versions: Vec<i64> = Vec::new();
    for (status, body) in answers {
        match status {
            200 | 201 => versions.push(body["version"].as_i64().unwrap()),
            409 => assert_eq!(body["code"], "concurrent_update", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    let answered = versions.len();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), answered, "two answers claim one version");
    let list = user.key.list_secrets().await.unwrap();
    let stored = list.secrets[0].version;
    assert_eq!(
        Some(&stored),
        versions.last(),
        "the last write is the stored one"
    );
}

#[tokio::test]
async fn concurrent_writes_to_one_secret_each_answer_their_own_version() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let answers = concurrent_puts(&user, "RACED", 100).await;
    assert_each_answer_describes_its_own_write(&user, &answers).await;
}
