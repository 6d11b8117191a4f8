//! Zero-knowledge code: strict payload parsing on upload, owner scoping, in-sandbox decryption,
//! wrong-password and integrity answers, the wrong-password limit, and the audit trail.

use pyth_on_types::{ZkEncryptRequest, ZkExecuteRequest};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{assert_api_error, TestServer, TestUser};

const PASSWORD: &str = "correct horse battery staple";

pub async fn encrypt(user: &TestUser, name: &str, code: &str, language: &str) -> Value {
    let response = user
        .key
        .request(Method::POST, "/api/v1/zk/encrypt")
        .json(&ZkEncryptRequest {
            code: code.into(),
            master_password: PASSWORD.to_string().into(),
            name: name.into(),
            language: Some(language.into()),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn put(user: &TestUser, name: &str, payload: &Value) -> reqwest::Response {
    user.key
        .request(Method::PUT, &format!("/api/v1/zk/code/{name}"))
        .json(payload)
        .send()
        .await
        .unwrap()
}

async fn zk_execute(user: &TestUser, name: &str, password: &str) -> reqwest::Response {
    user.key
        .request(Method::POST, &format!("/api/v1/zk/execute/{name}"))
        .json(&ZkExecuteRequest {
            master_password: password.to_string().into(),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: pyth_on_types::ErrorBody = response.json().await.unwrap();
    (status, body.code)
}

#[tokio::test]
async fn stored_code_is_decrypted_and_run_inside_the_sandbox() {
    let server = TestServer::start().await;
    let user = server.user().await;
    user.key
        .put_secret("ZK_SECRET", "zk-secret-value")
        .await
        .unwrap();
    let payload = encrypt(
        &user,
        "hello.py",
        "import os\nprint('hello, zk', os.environ['ZK_SECRET'])\n",
        "python",
    )
    .await;
    let stored = put(&user, "hello.py", &payload).await;
    assert_eq!(stored.status(), 201);
    let meta: pyth_on_types::EncryptedCodeMetadata = stored.json().await.unwrap();
    assert_eq!(
        (meta.language.as_str(), meta.kdf.m, meta.kdf.t, meta.kdf.p),
        ("python", 65536, 3, 1)
    );
    assert_eq!(put(&user, "hello.py", &payload).await.status(), 200);

    let run = zk_execute(&user, "hello.py", PASSWORD).await;
    assert_eq!(run.status(), 200);
    let run: Value = run.json().await.unwrap();
    assert_eq!(run["output"], "hello, zk ***\n");
    assert_eq!(run["zeroKnowledge"], true);
    assert_eq!(run["exitCode"], 0);

    let js = encrypt(&user, "hi.js", "console.log('js', 1 + 1)", "javascript").await;
    assert_eq!(put(&user, "hi.js", &js).await.status(), 201);
    let run: Value = zk_execute(&user, "hi.js", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["output"], "js 2\n");

    let list: pyth_on_types::EncryptedCodeList = user
        .key
        .request(Method::GET, "/api/v1/zk/code")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["hello.py", "hi.js"]);
}

#[tokio::test]
async fn a_wrong_password_is_403_runs_nothing_and_is_limited() {
    let server = TestServer::start_with(|s| s.zk_wrong_password_per_hour = 2).await;
    let user = server.user().await;
    let payload = encrypt(&user, "p.py", "print('ran')", "python").await;
    put(&user, "p.py", &payload).await;
    assert_eq!(
        error_code(zk_execute(&user, "p.py", "not the password").await).await,
        (403, "zk_wrong_password".into())
    );
    assert_eq!(
        error_code(zk_execute(&user, "p.py", "still not it").await).await,
        (403, "zk_wrong_password".into())
    );
    let limited = zk_execute(&user, "p.py", PASSWORD).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    let audit = user.key.audit(None, None, Some("zk.")).await.unwrap();
    let actions: Vec<(&str, &str)> = audit
        .entries
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    // Each try is on the record before the sandbox sees the password, then gets its verdict.
    assert_eq!(
        actions,
        [
            ("zk.wrong_password", "denied"),
            ("zk.execute", "started"),
            ("zk.wrong_password", "denied"),
            ("zk.execute", "started"),
            ("zk.store", "success")
        ]
    );
    let raw = serde_json::to_string(&audit).unwrap();
    assert!(!raw.contains("not the password") && !raw.contains(PASSWORD));
}

#[tokio::test]
async fn a_payload_moved_to_another_name_or_user_fails_integrity() {
    let server = TestServer::start().await;
    let alice = server.user().await;
    let bob = server.user().await;
    let payload = encrypt(&alice, "a.py", "print('alice')", "python").await;
    put(&alice, "moved.py", &payload).await;
    assert_eq!(
        error_code(zk_execute(&alice, "moved.py", PASSWORD).await).await,
        (422, "zk_integrity".into())
    );
    put(&bob, "a.py", &payload).await;
    assert_eq!(
        error_code(zk_execute(&bob, "a.py", PASSWORD).await).await,
        (422, "zk_integrity".into())
    );
    // Tampered ciphertext.
    let mut tampered = payload.clone();
    let ct = tampered["ct"].as_str().unwrap().to_string();
    let flipped = match ct.strip_prefix('A') {
        Some(rest) => format!("B{rest}"),
        None => format!("A{}", &ct[1..]),
    };
    tampered["ct"] = json!(flipped);
    put(&alice, "a.py", &tampered).await;
    assert_eq!(
        error_code(zk_execute(&alice, "a.py", PASSWORD).await).await,
        (422, "zk_integrity".into())
    );
}

#[tokio::test]
async fn malformed_payloads_and_bad_names_are_refused_at_upload() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let good = encrypt(&user, "x.py", "print(1)", "python").await;
    let mut cases = Vec::new();
    let mut unknown = good.clone();
    unknown["extra"] = json!(1);
    cases.push(unknown);
    let mut version = good.clone();
    version["v"] = json!(2);
    cases.push(version);
    let mut p4 = good.clone();
    p4["kdf"]["p"] = json!(4);
    cases.push(p4);
    let mut small_m = good.clone();
    small_m["kdf"]["m"] = json!(1024);
    cases.push(small_m);
    let mut float_t = good.clone();
    float_t["kdf"]["t"] = json!(3.0);
    cases.push(float_t);
    let mut short_salt = good.clone();
    short_salt["kdf"]["salt"] = json!("AAAA");
    cases.push(short_salt);
    let mut bad_lang = good.clone();
    bad_lang["language"] = json!("cobol");
    cases.push(bad_lang);
    for payload in cases {
        let (status, code) = error_code(put(&user, "x.py", &payload).await).await;
        assert_eq!(status, 400, "{payload}");
        assert!(
            code == "invalid_payload" || code == "unsupported_language",
            "{code} for {payload}"
        );
    }
    let (status, code) = error_code(put(&user, "bad name!", &good).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_name"));
    assert!(user
        .key
        .request(Method::GET, "/api/v1/zk/code")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["items"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn another_users_code_is_a_404_everywhere() {
    let server = TestServer::start().await;
    let alice = server.user().await;
    let bob = server.user().await;
    let payload = encrypt(&alice, "mine.py", "print(1)", "python").await;
    put(&alice, "mine.py", &payload).await;
    assert_eq!(
        error_code(zk_execute(&bob, "mine.py", PASSWORD).await).await,
        (404, "not_found".into())
    );
    let del = bob
        .key
        .request(Method::DELETE, "/api/v1/zk/code/mine.py")
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 404);
    let del = alice
        .key
        .request(Method::DELETE, "/api/v1/zk/code/mine.py")
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    assert_eq!(
        error_code(zk_execute(&alice, "mine.py", PASSWORD).await).await,
        (404, "not_found".into())
    );
    let actions: Vec<String> = alice
        .key
        .audit(None, None, Some("zk."))
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["zk.delete", "zk.store"]);
}

#[tokio::test]
async fn the_server_never_stores_the_code_or_the_password() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let payload = encrypt(&user, "canary.py", "print('zk-code-canary-5521')", "python").await;
    put(&user, "canary.py", &payload).await;
    let run: Value = zk_execute(&user, "canary.py", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["output"], "zk-code-canary-5521\n");
    for entry in std::fs::read_dir(server.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            for needle in ["zk-code-canary-5521", PASSWORD] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{} holds {needle}",
                    path.display()
                );
            }
        }
    }
}

#[tokio::test]
async fn zk_requests_with_missing_fields_are_400() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let r = user
        .key
        .request(Method::POST, "/api/v1/zk/execute/x.py")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_api_error(
        user.key
            .execute(&pyth_on_types::ExecuteRequest {
                code: "x".into(),
                language: Some("zk".into()),
                ..Default::default()
            })
            .await,
        400,
        "unsupported_language",
    );
    let r = user
        .key
        .request(Method::POST, "/api/v1/zk/encrypt")
        .json(&json!({"code": "x", "masterPassword": "", "name": "a.py"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let weak = user
        .key
        .request(Method::POST, "/api/v1/zk/encrypt")
        .json(&json!({"code": "x", "masterPassword": "eleven char", "name": "a.py"}))
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), 400);
    let body: serde_json::Value = weak.json().await.unwrap();
    assert_eq!(
        body["details"]["masterPassword"],
        "the master password must be at least 12 characters"
    );
}

/// Statuses of `n` concurrent runs of `name`, each with a different wrong password.
async fn concurrent_wrong_passwords(user: &TestUser, name: &str, n: usize) -> Vec<u16> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let key = user.key.clone();
            let name = name.to_string();
            tokio::spawn(async move {
                let response = key
                    .request(Method::POST, &format!("/api/v1/zk/execute/{name}"))
                    .json(&ZkExecuteRequest {
                        master_password: format!("guess number {i}").into(),
                        ..Default::default()
                    })
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                if status == 429 {
                    assert!(response.headers().get("retry-after").is_some());
                }
                status
            })
        })
        .collect();
    let mut statuses = Vec::with_capacity(n);
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

#[tokio::test]
async fn thirty_concurrent_wrong_passwords_evaluate_at_most_the_budget() {
    let server = TestServer::start().await; // 10 wrong passwords per hour and name
    let user = server.user().await;
    let payload = encrypt(&user, "vault.py", "print('opened')", "python").await;
    put(&user, "vault.py", &payload).await;

    let statuses = concurrent_wrong_passwords(&user, "vault.py", 30).await;

    let evaluated = statuses.iter().filter(|s| **s == 403).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(evaluated + limited, 30, "{statuses:?}");
    assert!(evaluated <= 10, "{evaluated} passwords tried: {statuses:?}");
    assert!(limited >= 20, "{statuses:?}");
    let audited = user
        .key
        .audit(None, None, Some("zk.wrong_password"))
        .await
        .unwrap()
        .entries
        .len();
    assert_eq!(audited, evaluated);
    // The budget is spent: even the right password waits.
    assert_eq!(zk_execute(&user, "vault.py", PASSWORD).await.status(), 429);
}

#[tokio::test]
async fn a_right_password_never_uses_up_the_wrong_password_budget() {
    let server = TestServer::start_with(|s| s.zk_wrong_password_per_hour = 2).await;
    let user = server.user().await;
    let payload = encrypt(&user, "daily.py", "print('ran')", "python").await;
    put(&user, "daily.py", &payload).await;

    assert_eq!(zk_execute(&user, "daily.py", "wrong").await.status(), 403);
    for _ in 0..4 {
        let run = zk_execute(&user, "daily.py", PASSWORD).await;
        assert_eq!(
            run.status(),
            200,
            "a right password is given its guess back"
        );
    }
    assert_eq!(
        zk_execute(&user, "daily.py", "wrong again").await.status(),
        403
    );
    // Two wrong ones: the budget is spent, for every password.
    let limited = zk_execute(&user, "daily.py", PASSWORD).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn a_run_that_cannot_start_gives_its_guess_back() {
    let server = TestServer::start_with(|s| s.zk_wrong_password_per_hour = 1).await;
    let user = server.user().await;
    let payload = encrypt(&user, "pkgs.py", "print('ran')", "python").await;
    put(&user, "pkgs.py", &payload).await;

    for _ in 0..3 {
        let refused = user
            .key
            .request(Method::POST, "/api/v1/zk/execute/pkgs.py")
            .json(&ZkExecuteRequest {
                master_password: "not even tried".to_string().into(),
                packages: Some(vec!["not a package spec!".into()]),
                ..Default::default()
            })
            .send()
            .await
            .unwrap();
        let (status, code) = error_code(refused).await;
        assert_eq!(status, 400);
        assert!(
            code == "invalid_package" || code == "packages_unavailable",
            "{code}"
        );
    }
    assert_eq!(zk_execute(&user, "pkgs.py", "wrong").await.status(), 403);
    assert_eq!(zk_execute(&user, "pkgs.py", PASSWORD).await.status(), 429);
}
