//! Sessions through the launcher, as root: real runner, real sandboxes, per-session uids.
#![allow(clippy::unwrap_used, reason = "test helpers panic on purpose")]

mod common;

use std::time::{Duration, Instant};

use pyth_on_launcher::{
    Language, LaunchError, Launcher, LauncherConfig, RuntimeConfig, Runtimes, SessionConfig, Stream,
};

use common::{privileged, runner};

const SECOND: Duration = Duration::from_secs(1);

async fn launcher(first_uid: u32) -> Launcher {
    privileged();
    let runtimes = Runtimes::detect(&RuntimeConfig::default()).await;
    let mut cfg = LauncherConfig::new(runtimes);
    cfg.runner_path = Some(runner());
    cfg.identities = Some((first_uid, 4));
    Launcher::new(cfg).unwrap()
}

fn text(outcome: &pyth_on_launcher::CellOutcome) -> Vec<&str> {
    let results = outcome.cell.results.iter();
    results
        .filter(|r| r.mime == "text/plain")
        .map(|r| r.data.as_str())
        .collect()
}

fn uid_has_processes(uid: u32) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read_to_string(e.path().join("status")).is_ok_and(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next())
                .is_some_and(|u| u == uid.to_string())
        })
    })
}

async fn until(mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < 5 * SECOND {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn a_session_keeps_state_streams_output_and_holds_its_uid_until_closed() {
    let l = launcher(62_100).await;
    let mut cfg = SessionConfig::new(Language::Python);
    cfg.env = vec![("TOKEN".into(), "t0k".into())];
    let mut s = l.open_session(cfg).await.unwrap();
    let uid = s.uid().unwrap();
    assert_eq!(l.identities_in_use(), 1);
    s.cell("x = 1", SECOND, None).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let out = s
        .cell(
            "import os\nprint(os.environ['TOKEN'])\nx += 1; x",
            SECOND,
            Some(&tx),
        )
        .await
        .unwrap();
    assert_eq!(text(&out), ["2"]);
    assert_eq!(out.stdout, "t0k\n");
    let mut streamed = Vec::new();
    while let Ok(chunk) = rx.try_recv() {
        assert_eq!(chunk.stream, Stream::Stdout);
        streamed.extend(chunk.data);
    }
    assert_eq!(streamed, b"t0k\n");
    let out = s
        .cell("import os\nos.getuid()", SECOND, None)
        .await
        .unwrap();
    assert_eq!(text(&out), [uid.to_string().as_str()]);
    s.close().await;
    assert!(until(|| l.identities_in_use() == 0).await);
    assert!(!uid_has_processes(uid));
    assert!(matches!(
        s.cell("1", SECOND, None).await,
        Err(LaunchError::Closed)
    ));
}

#[tokio::test]
async fn a_cell_that_exits_ends_the_session_with_its_status() {
    let l = launcher(62_110).await;
    let mut s = l
        .open_session(SessionConfig::new(Language::Python))
        .await
        .unwrap();
    let out = s
        .cell("import os\nos._exit(3)", SECOND, None)
        .await
        .unwrap();
    assert!(out.cell.session_ended);
    assert_eq!(out.ended.unwrap().exit_code, 3);
    assert!(s.runner_pid().is_none());
    assert!(until(|| l.identities_in_use() == 0).await);
}

#[tokio::test]
async fn a_javascript_session_survives_a_cell_that_loops_forever() {
    let l = launcher(62_120).await;
    let mut s = l
        .open_session(SessionConfig::new(Language::Javascript))
        .await
        .unwrap();
    s.cell("let a = 2", SECOND, None).await.unwrap();
    let out = s
        .cell("while(true){}", Duration::from_millis(300), None)
        .await
        .unwrap();
    assert!(out.cell.timed_out && out.ended.is_none());
    let out = s.cell("a * 21", SECOND, None).await.unwrap();
    assert_eq!(text(&out), ["42"]);
    s.close().await;
}

#[tokio::test]
async fn an_interrupter_stops_the_running_cell_only_and_the_session_goes_on() {
    let l = launcher(62_150).await;
    let mut s = l
        .open_session(SessionConfig::new(Language::Python))
        .await
        .unwrap();
    let interrupter = s.interrupter();
    assert!(!interrupter.interrupt(), "no cell runs");
    s.cell("kept = 'yes'", SECOND, None).await.unwrap();
    let remote = interrupter.clone();
    let stop = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        remote.interrupt()
    });
    let started = Instant::now();
    let out = s
        .cell("while True:\n    pass", 30 * SECOND, None)
        .await
        .unwrap();
    assert!(stop.await.unwrap(), "a cell was running");
    assert!(started.elapsed() < 5 * SECOND, "{:?}", started.elapsed());
    assert!(out.cell.interrupted && !out.cell.timed_out && out.ended.is_none());
    assert_eq!(out.cell.error.unwrap().name, "KeyboardInterrupt");
    assert!(!interrupter.interrupt(), "the cell is over");
    assert_eq!(
        text(&s.cell("kept", SECOND, None).await.unwrap()),
        ["'yes'"]
    );
    s.close().await;
}

#[tokio::test]
async fn dropping_a_session_kills_its_sandbox_and_then_releases_its_uid() {
    let l = launcher(62_130).await;
    let mut s = l
        .open_session(SessionConfig::new(Language::Python))
        .await
        .unwrap();
    let uid = s.uid().unwrap();
    s.cell(
        "import subprocess\np = subprocess.Popen(['sleep', '1000'])",
        SECOND,
        None,
    )
    .await
    .unwrap();
    assert!(uid_has_processes(uid));
    drop(s);
    assert!(until(|| l.identities_in_use() == 0).await);
    assert!(
        !uid_has_processes(uid),
        "the uid went back while the sandbox lived"
    );
}

#[tokio::test]
#[ignore = "benchmark: cargo test -p pyth-on-launcher --test session -- --ignored --nocapture"]
async fn session_open_and_cell_round_trip_through_the_launcher() {
    let l = launcher(62_140).await;
    for language in [Language::Python, Language::Javascript] {
        let mut opens = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            let mut s = l.open_session(SessionConfig::new(language)).await.unwrap();
            opens.push(t.elapsed());
            s.close().await;
        }
        let mut s = l.open_session(SessionConfig::new(language)).await.unwrap();
        let init = if language == Language::Python {
            "x = 0"
        } else {
            "var x = 0"
        };
        s.cell(init, SECOND, None).await.unwrap();
        let mut cells = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            let out = s.cell("x += 1; x", SECOND, None).await.unwrap();
            cells.push(t.elapsed());
            assert!(out.cell.error.is_none());
        }
        s.close().await;
        println!(
            "{language:?} via the launcher: open p50 {:.1} ms p90 {:.1} ms; cell p50 {:.2} ms p99 {:.2} ms",
            pct(&mut opens, 50),
            pct(&mut opens, 90),
            pct(&mut cells, 50),
            pct(&mut cells, 99)
        );
    }
}

fn pct(v: &mut [Duration], p: usize) -> f64 {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)].as_secs_f64() * 1000.0
}
