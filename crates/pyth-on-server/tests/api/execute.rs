//! `POST /api/v1/execute` through the real sandbox.

use std::collections::BTreeMap;

use pyth_on_types::ExecuteRequest;

use crate::support::{assert_api_error, TestServer};

fn py(code: &str) -> ExecuteRequest {
    ExecuteRequest {
        code: code.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn python_and_javascript_print_hello_under_every_alias() {
    let server = TestServer::start().await;
    let user = server.user().await;
    for lang in [None, Some("python"), Some("py"), Some("python3")] {
        let run = user
            .key
            .execute(&ExecuteRequest {
                language: lang.map(Into::into),
                ..py("print('hello')")
            })
            .await
            .unwrap();
        assert_eq!(
            (run.output.as_str(), run.exit_code, run.language.as_str()),
            ("hello\n", 0, "python"),
            "{lang:?}"
        );
    }
    for lang in ["javascript", "js", "node"] {
        let run = user
            .key
            .execute(&ExecuteRequest {
                language: Some(lang.into()),
                ..py("console.log('hello')")
            })
            .await
            .unwrap();
        assert_eq!(
            (run.output.as_str(), run.exit_code, run.language.as_str()),
            ("hello\n", 0, "javascript"),
            "{lang}"
        );
    }
}

#[tokio::test]
async fn stdin_args_and_env_reach_the_program() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let mut env = BTreeMap::new();
    env.insert("GREETING".to_string(), "hej".to_string());
    let run = user
        .key
        .execute(&ExecuteRequest {
            stdin: Some("from stdin".into()),
            args: Some(vec!["a b".into(), "--flag".into()]),
            env: Some(env),
            ..py("import os, sys\nprint(sys.stdin.read(), sys.argv[1:], os.environ['GREETING'])")
        })
        .await
        .unwrap();
    assert_eq!(run.output, "from stdin ['a b', '--flag'] hej\n");
}

#[tokio::test]
async fn failures_are_200_with_the_exit_code_and_stderr() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let run = user
        .key
        .execute(&py("import sys\nprint('partial')\nraise SystemExit(3)"))
        .await
        .unwrap();
    assert_eq!((run.exit_code, run.output.as_str()), (3, "partial\n"));
    let run = user.key.execute(&py("1/0")).await.unwrap();
    assert_eq!(run.exit_code, 1);
    assert!(run.error.contains("ZeroDivisionError"), "{run:?}");
    let run = user
        .key
        .execute(&ExecuteRequest {
            language: Some("js".into()),
            ..py("throw new Error('boom')")
        })
        .await
        .unwrap();
    assert_ne!(run.exit_code, 0);
    assert!(run.error.contains("boom"));
}

#[tokio::test]
async fn a_run_past_its_time_limit_is_killed_and_reported() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let run = user
        .key
        .execute(&ExecuteRequest {
            timeout_ms: Some(500),
            ..py("print('start', flush=True)\nwhile True: pass")
        })
        .await
        .unwrap();
    assert!(run.timed_out, "{run:?}");
    assert_eq!(run.exit_code, 137);
    assert_eq!(run.output, "start\n");
    assert!(run.duration_ms >= 500 && run.duration_ms < 5000, "{run:?}");
}

#[tokio::test]
async fn a_run_past_its_memory_limit_is_killed_and_reported() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let run = user
        .key
        .execute(&ExecuteRequest {
            memory_mb: Some(64),
            ..py("x = bytearray(200 * 1024 * 1024)\nprint('survived')")
        })
        .await
        .unwrap();
    assert_ne!(run.output, "survived\n");
    assert!(
        run.memory_exceeded || run.error.contains("MemoryError"),
        "{run:?}"
    );
}

#[tokio::test]
async fn output_past_the_cap_stops_the_run() {
    let server = TestServer::start_with(|s| s.max_output_bytes = 4096).await;
    let user = server.user().await;
    let run = user
        .key
        .execute(&py("while True: print('x' * 100)"))
        .await
        .unwrap();
    assert!(run.output_truncated, "{}", run.output.len());
    assert!(run.output.len() <= 4096 + 4);
}

#[tokio::test]
async fn runs_have_no_network_and_nothing_survives_them() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let code = format!(
        "import socket\ntry:\n    socket.create_connection(('{}', {}), timeout=2)\n    print('connected')\nexcept OSError as e:\n    print('refused')\nopen('/tmp/marker', 'w').write('x')\nopen('marker', 'w').write('x')",
        server.addr.ip(),
        server.addr.port()
    );
    let run = user.key.execute(&py(&code)).await.unwrap();
    assert_eq!(run.output, "refused\n", "{run:?}");
    let run = user
        .key
        .execute(&py(
            "import os\nprint(os.path.exists('/tmp/marker'), os.listdir('.'))",
        ))
        .await
        .unwrap();
    assert_eq!(run.output, "False []\n");
}

#[tokio::test]
async fn invalid_run_requests_are_refused_before_anything_runs() {
    let server = TestServer::start().await;
    let user = server.user().await;
    assert_api_error(
        user.key
            .execute(&ExecuteRequest {
                language: Some("ruby".into()),
                ..py("x")
            })
            .await,
        400,
        "unsupported_language",
    );
    assert_api_error(
        user.key
            .execute(&ExecuteRequest {
                timeout_ms: Some(0),
                ..py("x")
            })
            .await,
        400,
        "validation_failed",
    );
    assert_api_error(
        user.key
            .execute(&ExecuteRequest {
                timeout_ms: Some(60_001),
                ..py("x")
            })
            .await,
        400,
        "validation_failed",
    );
    assert_api_error(
        user.key
            .execute(&ExecuteRequest {
                memory_mb: Some(8),
                ..py("x")
            })
            .await,
        400,
        "validation_failed",
    );
    assert_api_error(
        user.key
            .execute(&ExecuteRequest {
                memory_mb: Some(4096),
                ..py("x")
            })
            .await,
        400,
        "validation_failed",
    );
    assert_api_error(
        user.key
            .execute(&ExecuteRequest {
                network: Some(true),
                ..py("x")
            })
            .await,
        400,
        "network_disabled",
    );
    let mut env = BTreeMap::new();
    env.insert("LD_PRELOAD".to_string(), "/tmp/x.so".to_string());
    assert_api_error(
        user.key
            .execute(&ExecuteRequest {
                env: Some(env),
                ..py("x")
            })
            .await,
        400,
        "reserved_name",
    );
    assert_api_error(
        user.key
            .execute(&ExecuteRequest {
                args: Some(vec!["a\0b".into()]),
                ..py("x")
            })
            .await,
        400,
        "validation_failed",
    );
    let audit = user.key.audit(None, None, Some("execute")).await.unwrap();
    assert!(audit.entries.is_empty(), "refused requests never ran");
}

#[tokio::test]
async fn when_the_run_queue_is_full_new_runs_get_503_with_retry_after() {
    let server = TestServer::start_with(|s| {
        s.runs.max_queued_runs = 1;
    })
    .await;
    let user = server.user().await;
    let slow = {
        let client = user.key.clone();
        tokio::spawn(async move {
            client
                .execute(&py("import time; time.sleep(1.5); print('done')"))
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let response = user
        .key
        .request(reqwest::Method::POST, "/api/v1/execute")
        .json(&py("print(1)"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    let body: pyth_on_types::ErrorBody = response.json().await.unwrap();
    assert_eq!(body.code, "sandbox_unavailable");
    assert_eq!(slow.await.unwrap().unwrap().output, "done\n");
}

#[tokio::test]
async fn another_tenants_run_in_a_reused_network_namespace_finds_nothing_the_last_one_left() {
    let server = TestServer::start_with(|s| s.metrics = true).await;
    let (alice, bob) = (server.user().await, server.user().await);
    server.netns_made().await;
    let netns = "import os\nprint(os.readlink('/proc/self/ns/net'))\n";
    let left = alice
        .key
        .execute(&py(&format!(
            "{netns}import socket\n\
             u = socket.socket(socket.AF_UNIX)\nu.bind('\\0left-by-alice')\nu.listen()\n\
             t = socket.socket()\nt.bind(('127.0.0.1', 4000))\nt.listen()\n"
        )))
        .await
        .unwrap();
    assert_eq!(left.exit_code, 0, "{}", left.error);
    // Alice's namespace comes back after its quarantine; the next lease takes it first.
    let reused = |t: &str| t.lines().any(|l| l == "pyth_on_netns_reused_total 1");
    // The pool's checker runs at nice 19: under a loaded machine (the whole suite at once) it may
    // take seconds to read the namespace back.
    let text = server.metrics_until(400, reused).await;
    assert!(
        reused(&text),
        "alice's namespace was never given back untouched"
    );
    let found = bob
        .key
        .execute(&py(&format!(
            "{netns}import socket\n\
             print('left-by-alice' in open('/proc/net/unix').read())\n\
             for family, address in ((socket.AF_UNIX, '\\0left-by-alice'), \
             (socket.AF_INET, ('127.0.0.1', 4000))):\n    \
                 try:\n        \
                     socket.socket(family).connect(address)\n        \
                     print('reached')\n    \
                 except ConnectionRefusedError:\n        \
                     print('refused')\n"
        )))
        .await
        .unwrap();
    let ns = left.output.lines().next().unwrap();
    assert_eq!(
        found.output,
        format!("{ns}\nFalse\nrefused\nrefused\n"),
        "{}",
        found.error
    );
}
