//! The `pyth-on` binary, run as a user would: `serve` start-up errors, `server-keys
//! rotate/list/retire`.
#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod common;

use common::{bin, free_addr, runner, serve};

use std::path::Path;
use std::process::Command;

use pyth_on_client::Client;
use pyth_on_server::Settings;

fn settings(dir: &Path) -> Settings {
    let mut s = Settings::for_data_dir(dir);
    s.runner = Some(runner());
    s
}

async fn with_server<F, Fut>(dir: &Path, f: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(pyth_on_server::launch(settings(dir), listener, async {
        let _ = rx.await;
    }));
    let client = Client::new(&format!("http://{addr}")).unwrap();
    for _ in 0..200 {
        if client.info().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    f(client).await;
    tx.send(()).unwrap();
    handle.await.unwrap().unwrap();
}

fn keys(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin())
        .arg("server-keys")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("PYTH_ON_DATABASE_URL")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn rotating_the_secrets_key_rewraps_data_keys_and_secrets_still_reach_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut api_key = String::new();
    with_server(dir.path(), |client| {
        let api_key = &mut api_key;
        async move {
            let auth = client
                .register("rot@example.com", "correct horse battery staple")
                .await
                .unwrap();
            *api_key = auth.api_key.unwrap();
            client
                .with_api_key(api_key.as_str())
                .put_secret("ROTATED", "value-before-rotation")
                .await
                .unwrap();
        }
    })
    .await;

    let (ok, out) = keys(dir.path(), &["rotate"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("v2 is current") && out.contains("1 data keys re-wrapped"),
        "{out}"
    );
    let (ok, out) = keys(dir.path(), &["list"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("v1: 0 secrets") && out.contains("v2 (current): 1 secrets"),
        "{out}"
    );
    let (ok, out) = keys(dir.path(), &["retire", "2"]);
    assert!(!ok && out.contains("current"), "{out}");
    let (ok, out) = keys(dir.path(), &["retire", "1"]);
    assert!(ok, "{out}");
    assert!(!dir.path().join("keys/secrets-key.v1").exists());

    with_server(dir.path(), |client| async move {
        let run = client
            .with_api_key(api_key)
            .execute(&pyth_on_types::ExecuteRequest {
                code: "import os; print(os.environ['ROTATED'] == 'value-before-rotation')".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(run.output, "True\n");
    })
    .await;
}

#[tokio::test]
async fn a_key_rotation_on_a_running_server_takes_effect_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    with_server(dir.path(), |client| async move {
        let auth = client
            .register("live@example.com", "correct horse battery staple")
            .await
            .unwrap();
        let user = client.with_api_key(auth.api_key.unwrap());
        user.put_secret("LIVE", "value-one").await.unwrap();
        // Another process (an operator, another node) rotates and re-wraps while we serve.
        let (ok, out) = keys(&path, &["rotate"]);
        assert!(ok, "{out}");
        let read = pyth_on_types::ExecuteRequest {
            code: "import os; print(os.environ['LIVE'] == 'value-one', os.environ.get('NEW') == 'value-two')".into(),
            ..Default::default()
        };
        let run = user.execute(&read).await.unwrap();
        assert_eq!(run.output, "True False\n", "{}", run.error);
        // A secret written now is sealed under v2 (the node checks for a newer key before it
        // seals), so retiring v1 never trips over it.
        user.put_secret("NEW", "value-two").await.unwrap();
        let (ok, out) = keys(&path, &["retire", "1"]);
        assert!(ok, "{out}");
        let run = user.execute(&read).await.unwrap();
        assert_eq!(run.output, "True True\n", "{}", run.error);
    })
    .await;
}

/// A node serving `url` with the key directory `key_dir`, until the returned sender fires.
async fn node_on(
    url: &str,
    key_dir: &Path,
    data_dir: &Path,
) -> (Client, tokio::sync::oneshot::Sender<()>) {
    let mut s = settings(data_dir);
    s.database_url = Some(url.to_owned());
    s.key_dir = Some(key_dir.to_owned());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = Client::new(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(pyth_on_server::launch(s, listener, async {
        let _ = rx.await;
    }));
    for _ in 0..200 {
        if client.info().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    (client, tx)
}

#[tokio::test]
async fn a_live_rotation_and_retirement_keep_two_postgres_nodes_answering_without_a_restart() {
    let url = pyth_on_store::testing::test_postgres_url().await;
    let shared = tempfile::tempdir().unwrap();
    let key_dir = shared.path().join("keys");
    let (a, stop_a) = node_on(&url, &key_dir, &shared.path().join("a")).await;
    let (b, stop_b) = node_on(&url, &key_dir, &shared.path().join("b")).await;
    let auth = a
        .register("nodes@example.com", "correct horse battery staple")
        .await
        .unwrap();
    let key = auth.api_key.unwrap();
    let (on_a, on_b) = (a.with_api_key(&key), b.with_api_key(&key));
    on_a.put_secret("OLD", "value-old").await.unwrap();
    let operator = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend([
            "--key-dir",
            key_dir.to_str().unwrap(),
            "--database-url",
            &url,
        ]);
        keys(shared.path(), &all)
    };
    let read = pyth_on_types::ExecuteRequest {
        code: "import os; e = os.environ; print(e.get('OLD') == 'value-old', e.get('NEW') == 'value-new')"
            .into(),
        ..Default::default()
    };

    // Rotate, then at once write on one node and read on both: no reload wait, no 500.
    let (ok, out) = operator(&["rotate"]);
    assert!(ok, "{out}");
    on_b.put_secret("NEW", "value-new").await.unwrap();
    for node in [&on_a, &on_b] {
        let run = node.execute(&read).await.unwrap();
        assert_eq!(run.output, "True True\n", "{}", run.error);
    }
    // Written right after the rotation, it is sealed under the new key already.
    let (ok, out) = operator(&["list"]);
    assert!(
        ok && out.contains("v1: 0 secrets") && out.contains("v2 (current): 2 secrets"),
        "{out}"
    );
    // Retire the old key at once: the secret written right after the rotation is not in its
    // way, and both nodes still open every secret.
    let (ok, out) = operator(&["retire", "1"]);
    assert!(ok, "{out}");
    for node in [&on_a, &on_b] {
        let run = node.execute(&read).await.unwrap();
        assert_eq!(run.output, "True True\n", "{}", run.error);
    }
    let (ok, out) = operator(&["list"]);
    assert!(
        ok && out.contains("v2 (current): 2 secrets") && !out.contains("v1"),
        "{out}"
    );
    let _ = (stop_a.send(()), stop_b.send(()));
}

#[test]
fn serve_refuses_bad_settings_with_one_line_and_a_failure_status() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["serve", "--max-timeout-ms", "0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--max-timeout-ms"), "{stderr}");
    let out = Command::new(bin())
        .args(["serve", "--listen", "not-an-address"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// `pyth-on serve` with these environment variables and a setting refused after parsing:
/// stderr, which names the first setting refused.
fn serve_refusal_with_env(vars: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["serve", "--max-timeout-ms", "0", "--data-dir"])
        .arg(dir.path())
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn boolean_variables_accept_every_usual_spelling_and_name_themselves_when_wrong() {
    let booleans = [
        "PYTH_ON_METRICS",
        "PYTH_ON_CONSOLE",
        "PYTH_ON_POOL_PRESTART",
        "PYTH_ON_EGRESS",
        "PYTH_ON_PACKAGE_WHEELS_ONLY",
        "PYTH_ON_NPM_INSTALL_SCRIPTS",
        "PYTH_ON_PACKAGE_TRUST_INDEX_DNS",
        "PYTH_ON_LOG_JSON",
    ];
    for word in [
        "true", "false", "1", "0", "on", "off", "yes", "no", "Yes", "OFF",
    ] {
        let vars: Vec<_> = booleans.iter().map(|v| (*v, word)).collect();
        let stderr = serve_refusal_with_env(&vars);
        // Parsing went through: the refusal is the later check of --max-timeout-ms.
        assert!(stderr.contains("--max-timeout-ms"), "{word}: {stderr}");
    }
    for var in booleans {
        let stderr = serve_refusal_with_env(&[(var, "maybe")]);
        assert!(!stderr.contains("--max-timeout-ms"), "{var}: {stderr}");
        for needle in [var, "'maybe'", "true/false, 1/0, on/off or yes/no"] {
            assert!(stderr.contains(needle), "{var}: {needle} missing: {stderr}");
        }
    }
}

#[test]
fn serve_starts_creates_private_key_files_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let port = addr.port();
    let mut child = serve(&dir.path().join("data"), addr)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/api/health");
    let mut up = false;
    for _ in 0..200 {
        if reqwest::blocking_get_ok(&url) {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(up, "server did not come up");
    use std::os::unix::fs::PermissionsExt;
    for f in [
        "data/keys/jwt-signing.key",
        "data/keys/secrets-key.v1",
        "data/pyth-on.db",
    ] {
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{f}: {mode:o}");
    }
    // SIGTERM: a graceful stop with status 0.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

mod reqwest {

    /// A tiny synchronous probe without pulling reqwest's blocking feature.
    pub fn blocking_get_ok(url: &str) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            ::reqwest::get(url)
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        })
    }
}

#[tokio::test]
async fn zk_put_encrypts_locally_and_zk_run_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(pyth_on_server::launch(
        settings(dir.path()),
        listener,
        async {
            let _ = rx.await;
        },
    ));
    let client = Client::new(&format!("http://{addr}")).unwrap();
    let mut auth = None;
    for _ in 0..200 {
        if let Ok(a) = client
            .register("zk-cli@example.com", "correct horse battery staple")
            .await
        {
            auth = Some(a);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let key = auth.unwrap().api_key.unwrap();
    let src = dir.path().join("greet.py");
    std::fs::write(&src, "import sys\nprint('zk cli', sys.argv[1:])\n").unwrap();
    let url = format!("http://{addr}");
    let cli = move |args: &[&str], password: &str| {
        let out = Command::new(bin())
            .arg("zk")
            .args(args)
            .env("PYTH_ON_URL", &url)
            .env("PYTH_ON_API_KEY", &key)
            .env("PYTH_ON_MASTER_PASSWORD", password)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let cli_rm = {
        let cli = cli.clone();
        move |args: &[&str]| cli(args, "")
    };
    let (ok, out, err) = tokio::task::spawn_blocking({
        let src = src.clone();
        let cli = cli.clone();
        move || cli(&["put", src.to_str().unwrap()], "cli master password")
    })
    .await
    .unwrap();
    assert!(ok, "{out}{err}");
    assert!(out.contains("stored greet.py"), "{out}");
    let listed = tokio::task::spawn_blocking({
        let cli = cli.clone();
        move || cli(&["list"], "")
    })
    .await
    .unwrap();
    assert!(listed.1.starts_with("greet.py\tpython\t"), "{listed:?}");
    let sealed = dir.path().join("greet.zk.json");
    let encrypted = tokio::task::spawn_blocking({
        let (cli, src, sealed) = (cli.clone(), src.clone(), sealed.clone());
        move || {
            let (src, sealed) = (src.to_str().unwrap(), sealed.to_str().unwrap());
            cli(&["encrypt", src, "--out", sealed], "cli master password")
        }
    })
    .await
    .unwrap();
    assert!(encrypted.0, "{encrypted:?}");
    let payload = std::fs::read_to_string(&sealed).unwrap();
    assert!(
        payload.contains("\"ct\"") && !payload.contains("zk cli"),
        "{payload}"
    );
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        let good = cli(&["run", "greet.py", "--", "a"], "cli master password");
        let bad = cli(&["run", "greet.py"], "wrong password");
        (
            good.0 && !bad.0 && bad.2.contains("zk_wrong_password"),
            good.1,
            format!("{}{}", good.2, bad.2),
        )
    })
    .await
    .unwrap();
    assert!(ok, "{out} {err}");
    assert_eq!(out, "zk cli ['a']\n");
    // The server holds only ciphertext.
    let db = std::fs::read(dir.path().join("pyth-on.db")).unwrap();
    assert!(!db.windows(6).any(|w| w == b"zk cli"));
    let removed = tokio::task::spawn_blocking(move || {
        let rm = cli_rm(&["rm", "greet.py"]);
        let again = cli_rm(&["rm", "greet.py"]);
        (rm, again)
    })
    .await
    .unwrap();
    assert!(removed.0 .0 && !removed.1 .0, "{removed:?}");
    tx.send(()).unwrap();
    handle.await.unwrap().unwrap();
}

#[test]
fn a_named_runtime_that_does_not_run_stops_the_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();

    let out = serve(&dir.path().join("data"), free_addr())
        .args(["--node", "/nonexistent/node"])
        .output()
        .unwrap();

    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("invalid setting --node: /nonexistent/node does not run as javascript"),
        "{err}"
    );
}
