//! `pyth-on users`, run as an operator would on the server's machine: the first admin is made
//! from the command line (never over the network), then signs in to a `closed` server and
//! manages accounts; disabling from the command line locks a user out of the running server.
#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{answering, bin, free_addr, serve};
use pyth_on_types::UserRole;

/// `pyth-on users ARGS` on `dir` with `stdin`; (success, stdout + stderr).
fn users(dir: &Path, args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(bin())
        .arg("users")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("PYTH_ON_DATABASE_URL")
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
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn the_first_admin_is_made_on_the_command_line_and_runs_a_closed_server() {
    let dir = tempfile::tempdir().unwrap();
    let password = "the operator's own passphrase";

    let (ok, out) = users(
        dir.path(),
        &["create", "--admin", "ops@example.com"],
        password,
    );
    assert!(ok && out.contains("created admin ops@example.com"), "{out}");
    assert!(
        !out.contains(password),
        "a chosen password is never printed: {out}"
    );
    let (ok, out) = users(dir.path(), &["create", "ada@example.com"], "");
    assert!(ok && out.contains("password (shown once): "), "{out}");
    let generated = out.rsplit("password (shown once): ").next().unwrap().trim();
    let (ok, out) = users(dir.path(), &["create", "ada@example.com"], "");
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = users(dir.path(), &["create", "bob@example.com"], "short");
    assert!(!ok && out.contains("12 characters"), "{out}");

    let addr = free_addr();
    let mut server = serve(dir.path(), addr)
        .args(["--registration", "closed"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = answering(addr).await;
    let admin = client.login("ops@example.com", password).await.unwrap();
    assert_eq!(admin.user.role, UserRole::Admin);
    let ada = client.login("ada@example.com", generated).await.unwrap();
    let ada_key = client.with_token(ada.token.clone());
    let listed = client.with_token(admin.token).admin_users(None, None).await;
    assert_eq!(listed.unwrap().users.len(), 2);
    assert!(client.register("eve@example.com", password).await.is_err());

    let (ok, out) = users(dir.path(), &["disable", "ada@example.com"], "");
    assert!(ok, "{out}");
    assert!(
        ada_key.me().await.is_err(),
        "a disabled user is refused at once"
    );
    let (ok, out) = users(dir.path(), &["list"], "");
    assert!(
        ok && out.contains("disabled") && out.contains("ops@example.com"),
        "{out}"
    );
    let (ok, out) = users(dir.path(), &["delete", "ops@example.com"], "");
    assert!(!ok && out.contains("last enabled administrator"), "{out}");
    let quota = ["quota", "ada@example.com", "--runs-per-day", "3"];
    let (ok, out) = users(dir.path(), &quota, "");
    assert!(ok && out.contains("runs per day:        3"), "{out}");
    assert!(out.contains("sessions:            default"), "{out}");
    let (ok, out) = users(dir.path(), &["quota", "ada@example.com", "--reset"], "");
    assert!(ok && out.contains("runs per day:        default"), "{out}");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn a_command_on_a_data_directory_the_server_never_used_is_refused_and_makes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("not-the-servers");

    let (ok, out) = users(&wrong, &["list"], "");
    let keys = Command::new(bin())
        .args(["server-keys", "list", "--data-dir"])
        .arg(&wrong)
        .env_remove("PYTH_ON_DATABASE_URL")
        .env_remove("PYTH_ON_KEY_DIR")
        .output()
        .unwrap();

    assert!(!ok && out.contains("no database at"), "{out}");
    let keys_err = String::from_utf8_lossy(&keys.stderr);
    assert!(!keys.status.success(), "{keys_err}");
    assert!(keys_err.contains("--key-dir"), "{keys_err}");
    assert!(!wrong.exists(), "a data directory was made");
}

#[test]
fn the_first_admin_made_before_the_server_ever_started_gets_a_private_data_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");

    let (ok, out) = users(
        &data,
        &["create", "--admin", "ops@example.com"],
        "the operator's own passphrase",
    );

    assert!(ok && out.contains("made a new database at"), "{out}");
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let (ok, out) = users(&data, &["list"], "");
    assert!(ok && out.contains("ops@example.com"), "{out}");
}
