//! What the quota tests share: a run's raw answer, a 429's body and `Retry-After`, and an
//! operator's process (a second application state on the server's database) that sets a
//! user's overrides through the service the admin routes call.

use pyth_on_store::AuditEvent;
use pyth_on_types::{ErrorBody, ExecuteRequest, QuotaOverrides, UserQuota};
use reqwest::Method;
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::{settings, TestServer, TestUser};

/// `POST /api/v1/execute` of `code`, the raw answer.
pub async fn execute(client: &pyth_on_client::Client, code: &str) -> reqwest::Response {
    client
        .request(Method::POST, "/api/v1/execute")
        .json(&ExecuteRequest {
            code: code.into(),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
}

/// A refusal by a quota: its body's `details` (after checking the status and code) and its
/// `Retry-After` in seconds, if any.
pub async fn refused(response: reqwest::Response, quota: &str) -> (ErrorBody, Value, Option<i64>) {
    assert_eq!(response.status(), 429);
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<i64>().unwrap());
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.code, "quota_exceeded", "{body:?}");
    let details = body.details.clone().expect("details");
    assert_eq!(details["quota"], quota, "{body:?}");
    (body, details, retry_after)
}

/// The next 00:00 UTC.
pub fn next_midnight() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.date().next_day().unwrap().midnight().assume_utc()
}

/// Asserts a daily refusal's `resetAt` is the next 00:00 UTC and `Retry-After` the seconds
/// until then.
#[track_caller]
pub fn resets_at_midnight(details: &Value, retry_after: Option<i64>) {
    let midnight = next_midnight();
    let reset_at = details["resetAt"].as_str().expect("resetAt");
    let reset_at =
        OffsetDateTime::parse(reset_at, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(reset_at, midnight);
    let until = (midnight - OffsetDateTime::now_utc()).whole_seconds();
    let retry_after = retry_after.expect("a daily quota's refusal says when to retry");
    assert!((retry_after - until).abs() <= 2, "{retry_after} vs {until}");
}

/// An operator's application state on `server`'s database (as a second process would have),
/// its settings (the server's default quotas) as `tweak` makes them.
pub async fn operator(
    server: &TestServer,
    tweak: impl FnOnce(&mut pyth_on_server::Settings),
) -> (pyth_on_server::state::AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    tweak(&mut s);
    let db = server.dir.path().canonicalize().unwrap().join("pyth-on.db");
    s.database_url = Some(format!("sqlite://{}?mode=rwc", db.display()));
    s.key_dir = Some(server.dir.path().join("keys"));
    let state = pyth_on_server::build_state(s).await.unwrap();
    (state, dir)
}

/// Sets `user`'s overrides through the service, audited on their chain.
pub async fn set_quota(
    state: &pyth_on_server::state::AppState,
    user: &TestUser,
    overrides: QuotaOverrides,
) -> UserQuota {
    let user_id = user.auth.user.id;
    let event = AuditEvent {
        id: Uuid::now_v7(),
        user_id,
        at: OffsetDateTime::now_utc(),
        action: "admin.quota.set".to_owned(),
        resource: Some(user_id.to_string()),
        outcome: "success".to_owned(),
        ip: None,
        auth_method: None,
        api_key_id: None,
        details: json!({ "overrides": overrides }),
    };
    pyth_on_server::quotas::set_user_quota(state, user_id, &overrides, std::slice::from_ref(&event))
        .await
        .unwrap()
}
