//! `pyth-on login` as a user would: the password on standard input (no echo on a terminal),
//! a key made for this machine saved 0600 in the config directory, then `pyth-on run` with
//! no key or URL in its environment uses it; `pyth-on logout` forgets it.
#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::bin;
use common::server::{server, text};

/// Uids for this binary's servers (other test binaries use other ranges).
const UID_BASE: u32 = 1_960_000_000;

/// `pyth-on ARGS` in `cwd` with `stdin`, no `PYTH_ON_*` of the test's environment but
/// `PYTH_ON_CONFIG_DIR=config`.
fn pyth_on(cwd: &Path, config: &Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args).current_dir(cwd);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PYTH_ON_") {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd
        .env("PYTH_ON_CONFIG_DIR", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn login_saves_a_private_key_that_run_then_uses_and_logout_forgets_it() {
    let server = server(UID_BASE, "login").await;
    let work = tempfile::tempdir().unwrap();
    let (cwd, config) = (work.path(), work.path().join("config"));
    std::fs::write(cwd.join("hi.py"), "print('hi from a saved key')").unwrap();
    let login = [
        "login",
        "--url",
        &server.url,
        "--email",
        "cli-login@example.com",
    ];

    let file = config.join("credentials.json");

    let wrong = pyth_on(cwd, &config, &login, "a wrong password!\n");
    assert!(!wrong.status.success());
    let said = text(&wrong.stderr);
    assert!(said.contains("email or password is wrong"), "{said}");
    let before = pyth_on(cwd, &config, &["run", "hi.py"], "");
    assert!(
        text(&before.stderr).contains("pyth-on login"),
        "{}",
        text(&before.stderr)
    );

    let signed_in = pyth_on(cwd, &config, &login, "correct horse battery staple\n");
    assert!(signed_in.status.success(), "{}", text(&signed_in.stderr));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(
        saved.contains("pyo_") && !saved.contains("correct horse"),
        "{saved}"
    );
    let ran = pyth_on(cwd, &config, &["run", "hi.py"], "");
    assert_eq!(
        text(&ran.stdout),
        "hi from a saved key\n",
        "{}",
        text(&ran.stderr)
    );

    // Key management spends the saved sign-in (it needs an access token), again and again.
    let created = pyth_on(cwd, &config, &["keys", "create", "deploy"], "");
    assert!(created.status.success(), "{}", text(&created.stderr));
    let created = text(&created.stdout);
    let (id, key) = created.trim().split_once('\t').unwrap();
    assert!(key.starts_with("pyo_"), "{key}");
    let listed = text(&pyth_on(cwd, &config, &["keys", "list"], "").stdout);
    assert!(
        listed.contains("\tdeploy\t") && listed.contains("cli@"),
        "{listed}"
    );
    let revoked = pyth_on(cwd, &config, &["keys", "revoke", id], "");
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let listed = text(&pyth_on(cwd, &config, &["keys", "list"], "").stdout);
    assert!(!listed.contains("deploy"), "{listed}");

    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let refresh = saved["refreshToken"].as_str().unwrap().to_string();
    let logout = pyth_on(cwd, &config, &["logout"], "");
    assert!(logout.status.success() && !file.exists());
    // Signing out ended the sign-in on the server too.
    let client = pyth_on_client::Client::new(&server.url).unwrap();
    assert!(client.refresh(&refresh).await.is_err());
    assert!(!pyth_on(cwd, &config, &["run", "hi.py"], "")
        .status
        .success());
}

#[tokio::test]
async fn an_existing_key_is_checked_before_it_is_saved() {
    let server = server(UID_BASE, "login-key").await;
    let work = tempfile::tempdir().unwrap();
    let (cwd, config) = (work.path(), work.path().join("config"));
    let login = ["login", "--url", &server.url, "--api-key-stdin"];

    let bogus = pyth_on(cwd, &config, &login, "pyo_not-a-key\n");
    assert!(!bogus.status.success());
    assert!(!config.join("credentials.json").exists());

    let good = pyth_on(cwd, &config, &login, &format!("{}\n", server.api_key));
    assert!(good.status.success(), "{}", text(&good.stderr));
    let keys = pyth_on(cwd, &config, &["keys", "list"], "");
    let said = text(&keys.stderr);
    assert!(
        !keys.status.success() && said.contains("email and password"),
        "{said}"
    );
    assert!(
        text(&good.stdout).contains("cli-login-key@example.com"),
        "{}",
        text(&good.stdout)
    );
}

#[tokio::test]
async fn secrets_packages_audit_and_usage_work_from_the_command_line() {
    let server = server(UID_BASE, "login-account").await;
    let work = tempfile::tempdir().unwrap();
    let (cwd, config) = (work.path(), work.path().join("config"));
    let flags = [
        "--url",
        server.url.as_str(),
        "--api-key",
        server.api_key.as_str(),
    ];
    let run = |args: &[&str], stdin: &str| {
        let all: Vec<&str> = args.iter().chain(flags.iter()).copied().collect();
        pyth_on(cwd, &config, &all, stdin)
    };

    let set = run(&["secrets", "set", "API_TOKEN"], "value-from-stdin\n");
    assert!(set.status.success(), "{}", text(&set.stderr));
    assert!(text(&set.stdout).contains("API_TOKEN is at version 1"));
    let empty = run(&["secrets", "set", "EMPTY"], "");
    assert!(!empty.status.success() && text(&empty.stderr).contains("standard input"));
    let listed = run(&["secrets", "list"], "");
    assert!(
        text(&listed.stdout).starts_with("API_TOKEN\tv1\t"),
        "{}",
        text(&listed.stdout)
    );
    assert!(!text(&listed.stdout).contains("value-from-stdin"));
    let bad = run(&["secrets", "set", "lower"], "x-value\n");
    assert!(
        !bad.status.success() && text(&bad.stderr).contains("capital"),
        "{}",
        text(&bad.stderr)
    );
    let removed = run(&["secrets", "rm", "API_TOKEN"], "");
    assert!(removed.status.success());

    let audit = run(&["audit", "--action", "secret."], "");
    let lines: Vec<String> = text(&audit.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("secret.delete") && lines[1].contains("secret.put"));
    let verified = run(&["audit", "--verify"], "");
    assert!(verified.status.success() && text(&verified.stdout).contains("intact"));
    let packages = run(&["packages", "ls"], "");
    assert!(
        text(&packages.stdout).contains("python environment: none"),
        "{}",
        text(&packages.stdout)
    );
    let bad_spec = run(&["packages", "add", "not a spec!"], "");
    assert!(
        !bad_spec.status.success() && text(&bad_spec.stderr).contains("invalid_package"),
        "{}",
        text(&bad_spec.stderr)
    );
    let missing = run(&["packages", "rm", "requests"], "");
    assert!(
        !missing.status.success() && text(&missing.stderr).contains("not_found"),
        "{}",
        text(&missing.stderr)
    );
    let usage = run(&["usage"], "");
    assert!(
        text(&usage.stdout).contains("runs           0 of 2000"),
        "{}",
        text(&usage.stdout)
    );
}

#[tokio::test]
async fn any_route_is_reachable_with_pyth_on_api() {
    let server = server(UID_BASE, "login-api").await;
    let work = tempfile::tempdir().unwrap();
    let (cwd, config) = (work.path(), work.path().join("config"));
    let login = [
        "login",
        "--url",
        &server.url,
        "--email",
        "cli-login-api@example.com",
    ];
    let signed_in = pyth_on(cwd, &config, &login, "correct horse battery staple\n");
    assert!(signed_in.status.success(), "{}", text(&signed_in.stderr));

    let allow = [
        "api",
        "PUT",
        "/api/v1/egress/allow",
        "-d",
        r#"{"hosts":["pypi.org"]}"#,
    ];
    let put = pyth_on(cwd, &config, &allow, "");
    assert!(put.status.success(), "{}", text(&put.stderr));
    let got = pyth_on(cwd, &config, &["api", "get", "/api/v1/egress/allow"], "");
    assert!(
        text(&got.stdout).contains("\"pypi.org\""),
        "{}",
        text(&got.stdout)
    );
    let settings = ["api", "PUT", "/api/v1/me/settings", "--data", "-"];
    let by_key = pyth_on(cwd, &config, &settings, r#"{"secretsDefault":"none"}"#);
    assert!(!by_key.status.success() && text(&by_key.stderr).contains("jwt_required"));
    let with_jwt: Vec<&str> = settings.iter().copied().chain(["--jwt"]).collect();
    let by_jwt = pyth_on(cwd, &config, &with_jwt, r#"{"secretsDefault":"none"}"#);
    assert!(
        text(&by_jwt.stdout).contains("\"secretsDefault\": \"none\""),
        "{}",
        text(&by_jwt.stderr)
    );
    let missing = pyth_on(cwd, &config, &["api", "GET", "/api/v1/nowhere"], "");
    assert!(!missing.status.success() && text(&missing.stderr).contains("404"));
    let bad = pyth_on(cwd, &config, &["api", "GET", "usage"], "");
    assert!(!bad.status.success() && text(&bad.stderr).contains("/api/"));
}

#[test]
fn signing_in_to_a_server_that_is_not_there_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", nobody.local_addr().unwrap());
    drop(nobody);

    let out = pyth_on(
        dir.path(),
        &dir.path().join("config"),
        &["login", "--url", &url],
        "ada@example.com\ncorrect horse battery staple\n",
    );
    let short = pyth_on(
        dir.path(),
        &dir.path().join("config"),
        &["login", "--url", &url],
        "ada@example.com\n",
    );

    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Connection refused"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&short.stderr).contains("the email first, then the password"),
        "{}",
        text(&short.stderr)
    );
}
