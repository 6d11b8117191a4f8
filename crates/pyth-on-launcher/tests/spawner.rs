//! The runner spawner through the launcher: runs take runners it forked, children of this
//! process; with it off, or dead, runners are exec'd and no run fails.

#![allow(clippy::unwrap_used, reason = "test helpers panic on purpose")]

mod common;

use std::time::Duration;

use pyth_on_launcher::{Job, Language, Launcher};

use common::privileged;

/// The tests of this file count this process's children: one at a time.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn launcher(spawner: bool) -> Launcher {
    let mut cfg = common::config().await;
    cfg.spawner = spawner;
    Launcher::new(cfg).unwrap()
}

async fn serving(l: &Launcher) -> u32 {
    for _ in 0..500 {
        if let Some(pid) = l.spawner_pid() {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the spawner never served");
}

/// Live (not zombie) `pyth-on-runner` processes whose parent is this process.
fn runner_children() -> Vec<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let rest = stat.strip_prefix(&format!("{pid} (pyth-on-runner) "))?;
            let mut fields = rest.split(' ');
            let (state, parent) = (fields.next()?, fields.next()?);
            (state != "Z" && parent == me).then_some(pid)
        })
        .collect()
}

async fn print(l: &Launcher, code: &str) -> String {
    l.run(Job::new(Language::Python, code))
        .await
        .unwrap()
        .result
        .stdout
}

#[tokio::test]
async fn a_run_takes_a_runner_forked_by_the_spawner_as_a_child_of_this_process() {
    privileged();
    let _alone = ALONE.lock().await;
    let l = launcher(true).await;
    let spawner = serving(&l).await;
    // The fork server starts beside it: a runner that compiles the fork server's program,
    // then execs the interpreter (no runner any more).
    let mut before = runner_children();
    for _ in 0..500 {
        if before == [spawner] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        before = runner_children();
    }
    assert_eq!(before, [spawner], "only the spawner before any run");
    let run = tokio::spawn({
        let l = l.clone();
        async move { print(&l, "import time\ntime.sleep(1)\nprint('slept')").await }
    });
    let mut during = Vec::new();
    for _ in 0..100 {
        during = runner_children();
        if during.len() > 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let forked: Vec<u32> = during.into_iter().filter(|p| *p != spawner).collect();
    assert_eq!(forked.len(), 1, "the run's runner is this process's child");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", forked[0])).unwrap();
    assert!(
        cmdline.ends_with(b"\0spawner\0"),
        "forked from the spawner, not exec'd: {:?}",
        String::from_utf8_lossy(&cmdline)
    );
    assert_eq!(run.await.unwrap(), "slept\n");
    assert_eq!(l.spawners_started(), 1);
    l.shutdown().await;
    assert!(l.spawner_pid().is_none(), "shutdown stops the spawner");
}

#[tokio::test]
async fn with_the_spawner_off_every_runner_is_execd() {
    privileged();
    let _alone = ALONE.lock().await;
    let l = launcher(false).await;
    assert_eq!(print(&l, "print(1)").await, "1\n");
    assert_eq!(l.spawners_started(), 0);
    assert!(l.spawner_pid().is_none());
}

#[tokio::test]
async fn a_spawner_that_died_costs_no_run() {
    privileged();
    let _alone = ALONE.lock().await;
    let l = launcher(true).await;
    let spawner = serving(&l).await;
    assert_eq!(print(&l, "print('before')").await, "before\n");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &spawner.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    for i in 0..5 {
        assert_eq!(print(&l, &format!("print({i})")).await, format!("{i}\n"));
    }
    assert!(l.spawner_pid().is_none(), "given up, runners are exec'd");
    assert_eq!(l.spawners_started(), 1, "not restarted within the back-off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_spawner_neither_blocks_the_runtime_nor_fails_a_run() {
    privileged();
    let _alone = ALONE.lock().await;
    let l = launcher(true).await;
    let spawner = serving(&l).await;
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &spawner.to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    // A ticker on the runtime: its longest gap shows whether a worker was blocked.
    let ticker = tokio::spawn(async {
        let mut longest = Duration::ZERO;
        let mut last = std::time::Instant::now();
        for _ in 0..300 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            longest = longest.max(last.elapsed());
            last = std::time::Instant::now();
        }
        longest
    });
    let runs: Vec<_> = (0..3)
        .map(|i| {
            let l = l.clone();
            tokio::spawn(async move { print(&l, &format!("print({i})")).await })
        })
        .collect();
    for (i, run) in runs.into_iter().enumerate() {
        assert_eq!(run.await.unwrap(), format!("{i}\n"));
    }
    let longest = ticker.await.unwrap();
    assert!(
        longest < Duration::from_millis(500),
        "the runtime stalled for {longest:?}"
    );
    assert!(l.spawner_pid().is_none(), "given up");
}

#[tokio::test]
async fn a_spawner_is_replaced_after_its_share_of_runners() {
    privileged();
    let _alone = ALONE.lock().await;
    let mut cfg = common::config().await;
    cfg.fork_server.max_runs = 3;
    let l = Launcher::new(cfg).unwrap();
    let first = serving(&l).await;
    for i in 0..8 {
        assert_eq!(print(&l, &format!("print({i})")).await, format!("{i}\n"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let now = serving(&l).await;
    assert_ne!(now, first, "a fresh spawner");
    assert!(l.spawners_started() >= 2, "{}", l.spawners_started());
}
