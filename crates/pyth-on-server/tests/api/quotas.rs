//! Per-user quotas on one node (SQLite): runs and CPU seconds per UTC day, session cells
//! counted as runs, sessions open at once, storage; each refusal a 429 `quota_exceeded`
//! naming the quota, its limit, the use and the reset; the usage read-out; a user's override
//! set by an operator beating the server's default.

use pyth_on_types::QuotaOverrides;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::quota_support::{execute, operator, refused, resets_at_midnight, set_quota};
use crate::session_support::{cell, open, send};
use crate::support::TestServer;

/// Spins for `secs` seconds of CPU (process time, not wall clock).
fn spin(secs: f64) -> String {
    format!("import time\nend = time.process_time() + {secs}\nwhile time.process_time() < end:\n    pass\n")
}

#[tokio::test]
async fn a_run_past_the_daily_runs_quota_is_refused_with_429_naming_the_quota_and_its_reset() {
    let server = TestServer::start_with(|s| s.quotas.quota_runs_per_day = 2).await;
    let user = server.user().await;
    for _ in 0..2 {
        assert_eq!(
            execute(&user.key, "print(1)").await.status(),
            StatusCode::OK
        );
    }

    let (body, details, retry_after) =
        refused(execute(&user.key, "print(1)").await, "runsPerDay").await;

    assert!(
        body.error.contains("quota of 2 runs per day is used up"),
        "{}",
        body.error
    );
    assert_eq!(
        (details["limit"].as_u64(), details["used"].as_f64()),
        (Some(2), Some(2.0))
    );
    resets_at_midnight(&details, retry_after);
    let usage = user.key.usage().await.unwrap();
    assert_eq!(
        (usage.runs.used, usage.runs.limit),
        (2.0, Some(2)),
        "the refusal counted nothing"
    );
    let other = server.user().await;
    assert_eq!(
        execute(&other.key, "print(1)").await.status(),
        StatusCode::OK,
        "quotas are per user"
    );
}

#[tokio::test]
async fn twenty_concurrent_runs_against_a_quota_of_five_start_exactly_five() {
    let server = TestServer::start_with(|s| s.quotas.quota_runs_per_day = 5).await;
    let user = server.user().await;

    let runs: Vec<_> = (0..20)
        .map(|_| {
            let client = user.key.clone();
            tokio::spawn(async move { execute(&client, "print('ran')").await })
        })
        .collect();
    let mut statuses = Vec::new();
    for run in runs {
        let response = run.await.unwrap();
        let status = response.status().as_u16();
        if status == 429 {
            refused(response, "runsPerDay").await;
        }
        statuses.push(status);
    }

    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        15,
        "{statuses:?}"
    );
    assert_eq!(user.key.usage().await.unwrap().runs.used, 5.0);
}

#[tokio::test]
async fn the_cpu_a_run_used_is_accounted_and_once_the_day_is_used_up_runs_are_refused() {
    let server = TestServer::start_with(|s| s.quotas.quota_cpu_seconds_per_day = 1).await;
    let user = server.user().await;
    let idle = execute(&user.key, "import time; time.sleep(0.3)").await;
    assert_eq!(idle.status(), StatusCode::OK);
    let after_a_sleep = user.key.usage().await.unwrap().cpu_seconds.used;

    let busy = execute(&user.key, &spin(1.2)).await;
    assert_eq!(
        busy.status(),
        StatusCode::OK,
        "a run may take the day past its CPU quota"
    );
    let usage = user.key.usage().await.unwrap();
    let (_, details, retry_after) =
        refused(execute(&user.key, "print(1)").await, "cpuSecondsPerDay").await;

    let spun = usage.cpu_seconds.used - after_a_sleep;
    eprintln!("accounted: a 0.3 s sleep {after_a_sleep} s, 1.2 s of spinning {spun} s");
    assert!(
        after_a_sleep < 0.3,
        "a sleep is not CPU time: {after_a_sleep} s"
    );
    let used = usage.cpu_seconds.used;
    assert!(
        (1.2..3.0).contains(&used),
        "1.2 s of CPU spun, {used} s accounted"
    );
    assert_eq!(usage.cpu_seconds.limit, Some(1));
    assert_eq!(details["limit"], 1);
    assert!(details["used"].as_f64().unwrap() >= 1.2, "{details}");
    resets_at_midnight(&details, retry_after);
}

#[tokio::test]
async fn usage_reads_todays_runs_cpu_sessions_and_storage_with_limits_and_reset() {
    let uids = 1_650_600_000..1_650_600_008;
    let server = crate::session_support::server_with_uids(&uids).await;
    let user = server.user().await;
    let fresh = user.jwt.usage().await.unwrap();
    execute(&user.key, "print(1)").await;
    let session = open(&user.key, json!({})).await;
    let payload = crate::zk::encrypt(&user, "kept.py", "print('kept')", "python").await;
    user.key.put_zk_code("kept.py", &payload).await.unwrap();

    let usage = user.key.usage().await.unwrap();
    user.key.delete_session(session.id).await.unwrap();

    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!((fresh.runs.used, fresh.storage_bytes.used), (0.0, 0.0));
    assert_eq!(usage.day, today);
    assert_eq!(usage.reset_at, crate::quota_support::next_midnight());
    assert_eq!((usage.runs.used, usage.runs.limit), (1.0, Some(2000)));
    assert!(
        usage.cpu_seconds.used > 0.0 && usage.cpu_seconds.used < 2.0,
        "{usage:?}"
    );
    assert_eq!(usage.cpu_seconds.limit, Some(3600));
    assert_eq!(usage.runs.reset_at, Some(usage.reset_at));
    assert_eq!((usage.sessions.used, usage.sessions.limit), (1.0, Some(8)));
    assert_eq!(
        usage.sessions.reset_at, None,
        "sessions free up when they end, not with time"
    );
    let stored = serde_json::to_string(&payload).unwrap().len() as f64;
    assert!(
        (usage.storage_bytes.used - stored).abs() < 64.0,
        "{usage:?} vs {stored}"
    );
    assert_eq!(usage.storage_bytes.limit, Some(1024 * 1024 * 1024));
    let unauthenticated = server.client.usage().await;
    crate::support::assert_api_error(unauthenticated, 401, "unauthorized");
}

#[tokio::test]
async fn a_users_override_set_by_an_operator_beats_the_default_and_unlimited_is_zero() {
    let one_run = |s: &mut pyth_on_server::Settings| s.quotas.quota_runs_per_day = 1;
    let server = TestServer::start_with(one_run).await;
    let (user, other) = (server.user().await, server.user().await);
    let (state, _dir) = operator(&server, one_run).await;

    let raised = QuotaOverrides {
        runs_per_day: Some(3),
        ..Default::default()
    };
    let quota = set_quota(&state, &user, raised).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(execute(&user.key, "print(1)").await.status().as_u16());
    }
    execute(&other.key, "print(1)").await;
    let (_, others, _) = refused(execute(&other.key, "print(1)").await, "runsPerDay").await;
    let unlimited = QuotaOverrides {
        runs_per_day: Some(0),
        ..Default::default()
    };
    set_quota(&state, &user, unlimited).await;
    let now_unlimited = execute(&user.key, "print(1)").await.status();
    let back = set_quota(&state, &user, QuotaOverrides::default()).await;

    assert_eq!((quota.runs_per_day, quota.overrides), (3, raised));
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert_eq!(others["limit"], 1, "the other user keeps the default");
    assert_eq!(now_unlimited, StatusCode::OK);
    assert_eq!(
        (back.runs_per_day, back.overrides),
        (1, QuotaOverrides::default())
    );
    assert_eq!(user.key.usage().await.unwrap().runs.limit, Some(1));
    let chain = user.key.verify_audit().await.unwrap();
    assert!(chain.valid, "the overrides' entries extend a valid chain");
    let unknown = pyth_on_server::quotas::user_quota(&state, uuid::Uuid::now_v7()).await;
    assert!(matches!(
        unknown,
        Err(pyth_on_server::quotas::QuotaError::UserNotFound)
    ));
}

#[tokio::test]
async fn session_cells_count_as_runs_and_a_session_past_the_sessions_quota_is_refused() {
    let uids = 1_650_600_100..1_650_600_108;
    let server = TestServer::start_with(|s| {
        s.quotas.quota_runs_per_day = 2;
        s.quotas.quota_sessions_per_user = 1;
        (s.runs.run_uid_start, s.runs.run_uid_count) = (uids.start, uids.end - uids.start);
    })
    .await;
    let user = server.user().await;
    let session = open(&user.key, json!({})).await;

    let second = user
        .key
        .request(Method::POST, "/api/v1/sessions")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (body, sessions, retry_after) = refused(second, "sessions").await;
    cell(&user.key, session.id, "x = 1", 5_000).await;
    cell(&user.key, session.id, "print(x)", 5_000).await;
    let path = format!("/api/v1/sessions/{}/execute", session.id);
    let third = user
        .key
        .request(Method::POST, &path)
        .json(&json!({ "code": "print(2)" }))
        .send()
        .await
        .unwrap();
    let (_, runs, _) = refused(third, "runsPerDay").await;
    user.key.delete_session(session.id).await.unwrap();
    let (status, _) = send(&user.key, Method::POST, "/api/v1/sessions", Some(json!({}))).await;

    assert!(body.error.contains("1 open sessions"), "{}", body.error);
    assert_eq!(
        (sessions["limit"].as_u64(), sessions["used"].as_f64()),
        (Some(1), Some(1.0))
    );
    assert_eq!(sessions["resetAt"], serde_json::Value::Null);
    assert_eq!(
        retry_after, None,
        "a session frees up when one ends, not with time"
    );
    assert_eq!(runs["used"], 2.0);
    assert_eq!(
        status,
        StatusCode::CREATED,
        "an ended session gives its place back"
    );
}

#[tokio::test]
async fn storage_past_the_quota_refuses_encrypted_code_and_package_changes() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let (state, _dir) = operator(&server, |_| {}).await;
    let payload = crate::zk::encrypt(&user, "a.py", "print('a')", "python").await;
    let tiny = QuotaOverrides {
        storage_bytes: Some(10),
        ..Default::default()
    };
    set_quota(&state, &user, tiny).await;

    let too_big = user
        .key
        .request(Method::PUT, "/api/v1/zk/code/a.py")
        .json(&payload)
        .send()
        .await
        .unwrap();
    let (body, details, retry_after) = refused(too_big, "storageBytes").await;
    set_quota(&state, &user, QuotaOverrides::default()).await;
    user.key.put_zk_code("a.py", &payload).await.unwrap();
    let held = user.key.usage().await.unwrap().storage_bytes.used;
    let exact = QuotaOverrides {
        storage_bytes: Some(held as u64),
        ..Default::default()
    };
    set_quota(&state, &user, exact).await;
    let replaced = user.key.put_zk_code("a.py", &payload).await;
    let other = crate::zk::encrypt(&user, "b.py", "print('b')", "python").await;
    let second = user
        .key
        .request(Method::PUT, "/api/v1/zk/code/b.py")
        .json(&other)
        .send()
        .await
        .unwrap();
    let (_, full, _) = refused(second, "storageBytes").await;
    let package = user
        .key
        .request(Method::POST, "/api/v1/packages")
        .json(&json!({ "package": "six" }))
        .send()
        .await
        .unwrap();
    let (_, packages, _) = refused(package, "storageBytes").await;

    assert!(
        body.error.contains("storage quota of 10 bytes"),
        "{}",
        body.error
    );
    assert_eq!(
        (details["limit"].as_u64(), details["used"].as_f64()),
        (Some(10), Some(0.0))
    );
    assert_eq!(
        (retry_after, details["resetAt"].clone()),
        (None, serde_json::Value::Null)
    );
    assert!(
        replaced.is_ok(),
        "a replace counts only its new bytes: {replaced:?}"
    );
    assert_eq!(full["used"].as_f64(), Some(held));
    assert_eq!(packages["limit"].as_f64(), Some(held));
}

#[tokio::test]
async fn zero_knowledge_and_streamed_runs_count_against_the_same_daily_runs() {
    let server = TestServer::start_with(|s| s.quotas.quota_runs_per_day = 1).await;
    let user = server.user().await;
    let payload = crate::zk::encrypt(&user, "z.py", "print('zk')", "python").await;
    user.key.put_zk_code("z.py", &payload).await.unwrap();
    let zk = user
        .key
        .request(Method::POST, "/api/v1/zk/execute/z.py")
        .json(&json!({ "masterPassword": "correct horse battery staple" }))
        .send()
        .await
        .unwrap();
    assert_eq!(zk.status(), StatusCode::OK, "the day's one run");

    let streamed = user
        .key
        .request(Method::POST, "/api/v1/execute")
        .header("accept", "text/event-stream")
        .json(&json!({ "code": "print(1)" }))
        .send()
        .await
        .unwrap();

    let (_, details, retry_after) = refused(streamed, "runsPerDay").await;
    assert_eq!(details["used"], 1);
    assert!(retry_after.is_some());
}

#[tokio::test]
async fn a_run_killed_at_its_timeout_is_charged_its_wall_clock_time() {
    let server = TestServer::start().await;
    let user = server.user().await;

    let killed = user
        .key
        .request(Method::POST, "/api/v1/execute")
        .json(&json!({ "code": spin(30.0), "timeoutMs": 700 }))
        .send()
        .await
        .unwrap();
    let answer: serde_json::Value = killed.json().await.unwrap();
    let used = user.key.usage().await.unwrap().cpu_seconds.used;

    assert_eq!(answer["timedOut"], true, "{answer}");
    assert!(
        (0.6..5.0).contains(&used),
        "a 0.7 s run that said nothing: {used} s"
    );
}
