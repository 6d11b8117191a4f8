//! The server process's life: runs die with a killed server and are closed as interrupted at
//! its next start; a draining server stops at its grace period or at a second signal.
#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod common;

use common::{answering, free_addr, serve};

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use pyth_on_client::Client;

/// Host pids for which `keep(pid)` holds.
fn pids_where(keep: impl Fn(u32) -> bool) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| keep(*pid))
        .collect()
}

/// Host processes whose uid lies in `range`.
fn processes_of(range: std::ops::Range<u32>) -> Vec<u32> {
    pids_where(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                let line = s.lines().find_map(|l| l.strip_prefix("Uid:"))?;
                line.split_whitespace().nth(1)?.parse::<u32>().ok()
            })
            .is_some_and(|uid| range.contains(&uid))
    })
}

/// `pid`'s state letter and parent, from `/proc/PID/stat`.
fn state_and_parent(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(") ")?.1.split(' ');
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

/// Whether `pid` is a process that has not exited (a zombie has).
fn alive(pid: &u32) -> bool {
    state_and_parent(*pid).is_some_and(|(state, _)| state != 'Z')
}

/// The pids of the live children of `parent` (runners, the runner spawner, the fork server).
fn children_of(parent: u32) -> Vec<u32> {
    pids_where(|pid| state_and_parent(pid).is_some_and(|(s, p)| s != 'Z' && p == parent))
}

/// A real `pyth-on serve` process with runs under uids `start..start + 100`, and a user of it
/// with a 30 s run in flight.
struct Served {
    server: std::process::Child,
    run: tokio::task::JoinHandle<
        Result<pyth_on_types::ExecuteResponse, pyth_on_client::ClientError>,
    >,
    uids: std::ops::Range<u32>,
    api_key: String,
    dir: tempfile::TempDir,
}

/// Starts `pyth-on serve` on `dir` (node `test-node`, runs under uids from `uid_start`) and
/// waits until it answers.
async fn spawn_serve(dir: &Path, uid_start: u32, extra: &[&str]) -> (std::process::Child, Client) {
    let addr = free_addr();
    let server = serve(dir, addr)
        .args(["--node-name", "test-node", "--run-uid-start"])
        .arg(uid_start.to_string())
        .args(["--run-uid-count", "100"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = answering(addr).await;
    (server, client)
}

async fn serve_with_a_long_run(uid_start: u32, extra: &[&str]) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = spawn_serve(dir.path(), uid_start, extra).await;
    let auth = client
        .register("kill@example.com", "correct horse battery staple")
        .await
        .unwrap();
    let api_key = auth.api_key.unwrap();
    let runner = client.with_api_key(&api_key);
    let run = tokio::spawn(async move {
        let req = pyth_on_types::ExecuteRequest {
            code: "import time; time.sleep(30)".into(),
            timeout_ms: Some(40_000),
            ..Default::default()
        };
        runner.execute(&req).await
    });
    let uids = uid_start..uid_start + 100;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !processes_of(uids.clone()).is_empty(),
        "the run is under way"
    );
    Served {
        server,
        run,
        uids,
        api_key,
        dir,
    }
}

impl Served {
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.server.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `limit` for the server to exit; how long it took.
    async fn exited_within(&mut self, limit: std::time::Duration) -> std::time::Duration {
        let started = std::time::Instant::now();
        while self.server.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < limit,
                "the server did not stop within {limit:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        started.elapsed()
    }

    /// No process of the server's runs is left (polled up to 2 s).
    async fn assert_no_run_left(&mut self) {
        let mut left = processes_of(self.uids.clone());
        for _ in 0..40 {
            if left.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            left = processes_of(self.uids.clone());
        }
        assert!(
            left.is_empty(),
            "sandbox processes outlived the server: {left:?}"
        );
        assert!(
            (&mut self.run).await.unwrap().is_err(),
            "the client saw the server go"
        );
    }
}

#[tokio::test]
async fn runs_die_with_a_killed_server_and_are_closed_as_interrupted_at_its_next_start() {
    assert!(
        pyth_on_sandbox::running_as_root(),
        "the sandbox needs root: run the tests as root"
    );
    let mut served = serve_with_a_long_run(1_650_000_000, &[]).await;
    let children = children_of(served.server.id());
    let forked = children
        .iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.ends_with(b"/pyth-on-runner\0spawner\0"))
        })
        .count();
    assert!(
        forked >= 2,
        "the spawner and a runner it forked: {children:?}"
    );
    served.server.kill().unwrap(); // SIGKILL
    served.exited_within(Duration::from_secs(5)).await;
    served.assert_no_run_left().await;
    let mut left: Vec<u32> = children.clone();
    for _ in 0..40 {
        left.retain(alive);
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats: Vec<String> = left
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .collect();
    assert!(
        left.is_empty(),
        "children outlived the killed server: {stats:?}"
    );

    // The same node starts again on the same data: the run it left open is closed.
    let (mut restarted, client) = spawn_serve(served.dir.path(), 1_650_000_000, &[]).await;
    let user = client.with_api_key(&served.api_key);
    let page = user.audit(Some(10), None, Some("execute")).await.unwrap();
    let verified = user.verify_audit().await.unwrap();
    restarted.kill().unwrap();
    let _ = restarted.wait();

    let outcomes: Vec<&str> = page.entries.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["interrupted", "started"]);
    assert_eq!(
        page.entries[0].details["executionId"].as_str(),
        page.entries[1].resource.as_deref()
    );
    assert_eq!(page.entries[0].auth_method.as_deref(), Some("api_key"));
    assert!(verified.valid);
}

#[tokio::test]
async fn a_draining_server_stops_at_its_grace_period_or_at_a_second_signal() {
    assert!(pyth_on_sandbox::running_as_root(), "run the tests as root");
    let mut served = serve_with_a_long_run(1_650_000_200, &["--shutdown-grace-secs", "2"]).await;
    served.signal("TERM");
    let took = served
        .exited_within(std::time::Duration::from_secs(8))
        .await;
    assert!(
        took >= std::time::Duration::from_millis(1500),
        "it drained first: {took:?}"
    );
    served.assert_no_run_left().await;
    let mut served = serve_with_a_long_run(1_650_000_400, &["--shutdown-grace-secs", "60"]).await;
    served.signal("TERM");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    served.signal("INT");
    served
        .exited_within(std::time::Duration::from_secs(2))
        .await;
    served.assert_no_run_left().await;
}
