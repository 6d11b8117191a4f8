//! The README's quick start, run as written: its shell blocks are read from `README.md`, the
//! server command is started with this build's `pyth-on` (the debug binary the test command
//! builds, instead of the release one the README builds first), and the client block runs in
//! `bash -euo pipefail` against it. The one change made to the README's text: the server
//! listens on a free port instead of 8080 (other servers may hold 8080 on a shared machine),
//! so `localhost:8080` in the client block becomes that port.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const README: &str = include_str!("../../../README.md");

/// The README's fenced `sh` blocks, in order.
fn shell_blocks() -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in README.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(lines), "```") => {
                blocks.push(lines.join("\n"));
                current = None;
            }
            (Some(lines), _) => lines.push(line),
            (None, _) => {}
        }
    }
    blocks
}

/// The one block that contains `needle`.
fn block_with(needle: &str) -> String {
    let found: Vec<_> = shell_blocks()
        .into_iter()
        .filter(|b| b.contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "exactly one sh block holds {needle:?}");
    found.into_iter().next().unwrap()
}

/// The server command of the README, split into the build and the binary's arguments.
fn server_command() -> Vec<String> {
    let block = block_with("pyth-on serve");
    let line = block.lines().find(|l| l.contains("pyth-on serve")).unwrap();
    let line = line.split('#').next().unwrap().trim();
    let (build, run) = line.split_once(" && ").expect("build && run, on one line");
    let build: Vec<_> = build.split_whitespace().collect();
    let run: Vec<_> = run.split_whitespace().collect();
    assert_eq!(&build[..2], ["cargo", "build"], "{line}");
    assert!(
        build.contains(&"--workspace"),
        "the runner must be built too"
    );
    let profile = if build.contains(&"--release") {
        "release"
    } else {
        "debug"
    };
    assert_eq!(run[0], format!("./target/{profile}/pyth-on"), "{line}");
    run[1..].iter().map(|s| s.to_string()).collect()
}

/// The README's server command, on this build's binary, in `dir`, listening on `port`.
fn start_server(dir: &Path, port: u16) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pyth-on"));
    cmd.args(server_command())
        .current_dir(dir)
        .env("PYTH_ON_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("server.log")).unwrap());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PYTH_ON_") && name != "PYTH_ON_LISTEN" {
            cmd.env_remove(name);
        }
    }
    cmd.spawn().unwrap()
}

fn wait_until_live(port: u16) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/api/health/live");
    for _ in 0..400 {
        let up = rt.block_on(async {
            reqwest::get(&url)
                .await
                .is_ok_and(|r| r.status().is_success())
        });
        if up {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server did not come up on port {port}");
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_readme_quick_start_runs_as_written_and_prints_what_it_promises() {
    // Arrange: the README's server, from an empty directory as in a fresh clone.
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_addr().port();
    let _server = Server(start_server(dir.path(), port));
    wait_until_live(port);
    let client = block_with("/api/v1/execute");
    assert!(client.contains("localhost:8080"), "{client}");
    let script = client.replace("localhost:8080", &format!("localhost:{port}"));

    // Act
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .output()
        .unwrap();

    // Assert: success, and the output the README shows, up to its first varying field.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "{stdout}\n{stderr}\nserver log:\n{log}"
    );
    let shown = client
        .lines()
        .find_map(|l| l.trim().strip_prefix("# {"))
        .expect("the block shows its answer in a comment");
    let promised = format!("{{{}", shown.split("\"durationMs\"").next().unwrap());
    assert!(promised.contains("\"output\":\"42\\n\""), "{promised}");
    assert!(
        stdout.contains(&promised),
        "README promises {promised}, got {stdout}"
    );
    assert!(
        dir.path().join("pyth-on-data").is_dir(),
        "data in ./pyth-on-data"
    );
}

#[test]
fn the_first_screen_of_the_readme_gives_the_server_and_test_commands() {
    let first_screen: String = README.lines().take(40).collect::<Vec<_>>().join("\n");
    assert!(first_screen.contains("pyth-on serve"), "start the server");
    assert!(first_screen.contains("./scripts/test"), "run the tests");
    assert!(Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/test")
        .is_file());
}
