//! The warm pool with the Python fork server: runs forked, a replaced, a killed and a stalled
//! fork server (no run fails, each is replaced).

use super::*;

/// A launcher with its own cgroup parent whose fork server is up (`tweak` adjusts the config).
async fn with_fork_server(parent: &str, tweak: impl FnOnce(&mut LauncherConfig)) -> Launcher {
    let runtimes = Runtimes::detect(&RuntimeConfig::default()).await;
    let mut cfg = LauncherConfig::new(runtimes);
    cfg.runner_path = Some(runner());
    cfg.sandbox.cgroup_parent = parent.into();
    tweak(&mut cfg);
    let l = Launcher::new(cfg).unwrap();
    let start = Instant::now();
    while l.fork_server_pid().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no fork server: is libpyth_on_zygote.so beside pyth-on-runner, of this build? \
             (`cargo build --workspace` puts it there)"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    l
}

#[tokio::test]
async fn python_runs_fork_from_the_fork_server_and_a_replaced_one_lets_its_runs_finish() {
    let _process = shared().await;
    privileged();
    let l = with_fork_server("pyth-on-pool-fork", |cfg| {
        cfg.pool = PoolConfig {
            size_per_language: 3,
            refill_concurrency: 2,
            idle_lifetime: Duration::from_secs(60),
            prestart: true,
        };
        // Replaced every 2 runs: prepared sandboxes and runs in flight outlive their server.
        cfg.fork_server.max_runs = 2;
    })
    .await;
    let mut forked = 0;
    for round in 0..4 {
        let runs = (0..4).map(|i| {
            let l = l.clone();
            let code = format!("import os\nprint({round} * 10 + {i}, os.getppid())");
            tokio::spawn(async move { l.run(Job::new(Language::Python, code)).await })
        });
        for (i, run) in runs.collect::<Vec<_>>().into_iter().enumerate() {
            let out = run.await.unwrap().unwrap();
            let (number, parent) = out.result.stdout.trim().split_once(' ').unwrap();
            assert_eq!(number, (round * 10 + i).to_string(), "{:?}", out.result);
            // The parent of a forked payload is outside its PID namespace: 0. An exec'd
            // interpreter's parent is the sandbox's init: 1.
            forked += usize::from(parent == "0");
        }
    }
    assert!(forked >= 8, "only {forked} of 16 runs were forked");
    // A replacement came up, and the runs go on through it.
    let start = Instant::now();
    while l.fork_servers_started() < 2 {
        assert!(start.elapsed() < Duration::from_secs(20), "never replaced");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for i in 0..4 {
        let out = l
            .run(Job::new(Language::Python, format!("print({i})")))
            .await
            .unwrap();
        assert_eq!(out.result.stdout, format!("{i}\n"), "{:?}", out.result);
    }
    assert_eq!(l.pool_stats().failed, 0, "{:?}", l.pool_stats());
    l.shutdown().await;
}

#[tokio::test]
async fn a_stalled_fork_server_costs_one_run_a_retry_and_is_replaced() {
    let _process = shared().await;
    privileged();
    // No pool: every run asks the fork server.
    let l = with_fork_server("pyth-on-pool-fork-stalled", |_| {}).await;
    let pid = l.fork_server_pid().unwrap().to_string();
    // Stopped: it still looks alive, connections queue, nothing answers.
    let stop = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status();
    assert!(stop.unwrap().success());
    let out = l
        .run(Job::new(Language::Python, "import os; print(os.getppid())"))
        .await
        .unwrap();
    assert_eq!(out.result.stdout, "1\n", "run without it: {:?}", out.result);
    assert!(!process_exists(pid.parse().unwrap()) || l.fork_server_pid().is_none());
    let start = Instant::now();
    while l.fork_server_pid().is_none() {
        assert!(start.elapsed() < Duration::from_secs(20), "never replaced");
        let _ = l.run(Job::new(Language::Python, "pass")).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    l.shutdown().await;
}

#[tokio::test]
async fn a_killed_fork_server_fails_no_run_and_is_replaced() {
    let _process = shared().await;
    privileged();
    // No pool: every run asks the fork server.
    let l = with_fork_server("pyth-on-pool-fork-killed", |_| {}).await;
    let pid = l.fork_server_pid().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Whether a run still finds it (its request then fails and the run goes on without it)
    // or finds it gone, every run answers.
    for i in 0..6 {
        let out = l
            .run(Job::new(Language::Python, format!("print({i})")))
            .await
            .unwrap();
        assert_eq!(out.result.stdout, format!("{i}\n"), "{:?}", out.result);
    }
    let start = Instant::now();
    while l.fork_server_pid().is_none_or(|p| p == pid) {
        assert!(start.elapsed() < Duration::from_secs(20), "never replaced");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let out = l
        .run(Job::new(Language::Python, "import os; print(os.getppid())"))
        .await
        .unwrap();
    assert_eq!(
        out.result.stdout, "0\n",
        "forked by the new one: {:?}",
        out.result
    );
    l.shutdown().await;
}

#[tokio::test]
async fn without_the_fork_servers_library_python_runs_start_interpreters_of_their_own() {
    let _process = shared().await;
    privileged();
    // A runner with nothing beside it: its fork server cannot start.
    let dir = std::env::temp_dir().join(format!("pyth-on-no-zygote-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let alone = dir.join("pyth-on-runner");
    std::fs::copy(runner(), &alone).unwrap();
    let runtimes = Runtimes::detect(&RuntimeConfig::default()).await;
    let mut cfg = LauncherConfig::new(runtimes);
    cfg.runner_path = Some(alone);
    cfg.sandbox.cgroup_parent = "pyth-on-pool-fork-missing".into();
    let l = Launcher::new(cfg).unwrap();
    for i in 0..3 {
        let code = format!("import os\nprint({i}, os.getppid())");
        let out = l.run(Job::new(Language::Python, code)).await.unwrap();
        // An exec'd interpreter's parent is the sandbox's init (1); a forked one's is 0.
        assert_eq!(out.result.stdout, format!("{i} 1\n"), "{:?}", out.result);
    }
    assert_eq!(l.fork_server_pid(), None);
    l.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
