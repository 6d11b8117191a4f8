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

    let logout = pyth_on(cwd, &config, &["logout"], "");
    assert!(logout.status.success() && !file.exists());
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
    assert!(
        text(&good.stdout).contains("cli-login-key@example.com"),
        "{}",
        text(&good.stdout)
    );
}
