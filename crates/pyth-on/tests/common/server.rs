//! A `pyth-on serve` of its own for the command tests (`pyth-on run`, `pyth-on session`), a
//! user's API key on it, and the command under test pointed at it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{answering, bin, free_addr, serve};

/// A server process and an API key of a user on it; stopped on drop.
pub struct Server {
    child: Child,
    /// The subcommand under test (`run`, `session`).
    command: &'static str,
    pub url: String,
    pub api_key: String,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts a server (no warm pool; runs and sessions under uids from `uid_base` plus 1000 for
/// each server started by this test binary) for tests of `pyth-on COMMAND`, and registers a
/// user.
pub async fn server(uid_base: u32, command: &'static str) -> Server {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let uid_start = uid_base + 1000 * NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let child = serve(&dir.path().join("data"), addr)
        .args(["--pool-size", "0", "--run-uid-count", "100"])
        .arg("--run-uid-start")
        .arg(uid_start.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = answering(addr).await;
    let auth = client
        .register(
            &format!("cli-{command}@example.com"),
            "correct horse battery staple",
        )
        .await
        .unwrap();
    Server {
        child,
        command,
        url: format!("http://{addr}"),
        api_key: auth.api_key.unwrap(),
        dir,
    }
}

impl Server {
    /// `pyth-on COMMAND ARGS` in `cwd`, with this server's URL and key in the environment.
    pub fn command(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.arg(self.command).args(args).current_dir(cwd);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PYTH_ON_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("PYTH_ON_URL", &self.url)
            .env("PYTH_ON_API_KEY", &self.api_key)
            // Never the saved login of whoever runs the tests.
            .env("PYTH_ON_CONFIG_DIR", self.dir.path().join("config"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// `pyth-on COMMAND ARGS` in `cwd` with `stdin` piped in, to its end.
    pub fn run(&self, cwd: &Path, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(cwd, args)
            .stdin(Stdio::piped())
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

    /// `pyth-on COMMAND ARGS` in `cwd` with nothing on stdin; panics unless it succeeds, and
    /// answers its stdout.
    pub fn ok(&self, cwd: &Path, args: &[&str]) -> String {
        let out = self
            .command(cwd, args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}",
            self.command,
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `pyth-on session new ARGS`: the new session's id.
    pub fn new_session(&self, args: &[&str]) -> String {
        let cwd = self.dir.path().to_path_buf();
        let out = self.ok(&cwd, &[&["new"], args].concat());
        out.trim().to_string()
    }

    /// A directory for the files of one test.
    pub fn work(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }
}

/// Bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
