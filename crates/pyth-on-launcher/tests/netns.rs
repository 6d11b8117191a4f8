//! Network namespaces through the launcher: runs that leave no trace take turns in the same
//! namespace; an abandoned run's namespace is destroyed, never given to another run.

#![allow(clippy::unwrap_used, reason = "test helpers panic on purpose")]

mod common;

use std::time::{Duration, Instant};

use pyth_on_launcher::{Job, Language, Launcher};
use pyth_on_sandbox::netns::NetnsStats;

use common::privileged;

/// One run at a time, so the pool keeps two namespaces ready: the run's, and one for the next
/// run while the last one's sandbox is still being torn down.
async fn launcher(reuse_netns: bool) -> Launcher {
    let mut cfg = common::config().await;
    cfg.max_concurrency = 1;
    cfg.reuse_netns = reuse_netns;
    Launcher::new(cfg).unwrap()
}

async fn until(l: &Launcher, done: impl Fn(NetnsStats) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(l.netns_stats().unwrap()) {
        assert!(Instant::now() < deadline, "{:?}", l.netns_stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn namespace_of_a_run(l: &Launcher) -> String {
    let code = "import os\nprint(os.readlink('/proc/self/ns/net'))";
    let out = l.run(Job::new(Language::Python, code)).await.unwrap();
    assert_eq!(out.result.exit_code, 0, "{}", out.result.stderr);
    out.result.stdout
}

#[tokio::test]
async fn runs_that_leave_no_trace_take_turns_in_one_network_namespace() {
    privileged();
    let l = launcher(true).await;
    until(&l, |s| s.created == 2).await;
    let first = namespace_of_a_run(&l).await;
    until(&l, |s| s.reused == 1).await;
    let second = namespace_of_a_run(&l).await;
    assert_eq!(
        first, second,
        "the last one given back is the first one leased"
    );
}

#[tokio::test]
async fn an_abandoned_run_has_its_namespace_destroyed_and_the_pool_makes_another() {
    privileged();
    let l = launcher(true).await;
    until(&l, |s| s.created == 2).await;
    let run = tokio::spawn({
        let l = l.clone();
        async move {
            let _ = l
                .run(Job::new(Language::Python, "import time\ntime.sleep(30)"))
                .await;
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    run.abort();
    // The lease was replaced by a new one (3 made), and the abandoned one destroyed.
    until(&l, |s| s.destroyed == 1 && s.created == 3).await;
    assert_eq!(l.netns_stats().unwrap().reused, 0);
}

#[tokio::test]
async fn with_reuse_off_no_namespace_is_kept_and_runs_still_work() {
    privileged();
    let l = launcher(false).await;
    assert!(l.netns_stats().is_none());
    assert!(namespace_of_a_run(&l).await.starts_with("net:["));
}
