//! The warm pool end to end (as root): prepared runners serve runs, once each; the cold path
//! covers an empty pool; nothing of one user reaches the next; shutdown leaves nothing behind.

#![allow(clippy::unwrap_used, reason = "tests panic on purpose")]

mod common;
#[path = "pool/fork_server.rs"]
mod fork_server;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{privileged, runner};
use pyth_on_launcher::{
    Job, Language, Launcher, LauncherConfig, PoolConfig, RuntimeConfig, Runtimes,
};

/// A launcher with its own cgroup parent, so the test can look for leftovers.
/// Tests of this file share their process: the one that checks no runner of the process is
/// left after a shutdown runs alone ([`alone`]), the others beside each other ([`shared`]).
static PROCESS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

async fn shared() -> tokio::sync::RwLockReadGuard<'static, ()> {
    PROCESS.read().await
}

async fn alone() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    PROCESS.write().await
}

async fn pooled(size: usize, idle: Duration, parent: &str) -> Launcher {
    pooled_with(size, idle, parent, true).await
}

async fn pooled_with(size: usize, idle: Duration, parent: &str, prestart: bool) -> Launcher {
    let runtimes = Runtimes::detect(&RuntimeConfig::default()).await;
    let mut cfg = LauncherConfig::new(runtimes);
    cfg.runner_path = Some(runner());
    cfg.sandbox.cgroup_parent = parent.into();
    cfg.pool = PoolConfig {
        size_per_language: size,
        refill_concurrency: 2,
        idle_lifetime: idle,
        prestart,
    };
    Launcher::new(cfg).unwrap()
}

/// Waits until `n` python runners are ready.
async fn wait_ready(l: &Launcher, n: usize) {
    let start = Instant::now();
    while l.pool_stats_for(Language::Python).ready < n {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "pool never filled: {:?}",
            l.pool_stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Run groups left under `parent` (v1: the memory hierarchy nested under our own group; v2:
/// the unified root).
fn leftover_groups(parent: &str) -> Vec<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let v1 = own.lines().find_map(|l| {
        let mut p = l.splitn(3, ':');
        let (_, ctrls, path) = (p.next()?, p.next()?, p.next()?);
        ctrls
            .split(',')
            .any(|c| c == "memory")
            .then(|| format!("/sys/fs/cgroup/memory{path}"))
    });
    let dir = PathBuf::from(v1.unwrap_or_else(|| "/sys/fs/cgroup".into())).join(parent);
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

fn process_exists(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[tokio::test]
async fn the_pool_serves_runs_and_each_runner_serves_only_one() {
    let _process = shared().await;
    privileged();
    let l = pooled(2, Duration::from_secs(60), "pyth-on-pool-a").await;
    wait_ready(&l, 2).await;

    let first = l
        .run(Job::new(Language::Python, "print(6 * 7)"))
        .await
        .unwrap();
    let second = l
        .run(Job::new(Language::Python, "print('again')"))
        .await
        .unwrap();

    assert_eq!(first.result.stdout, "42\n");
    assert_eq!(second.result.stdout, "again\n");
    assert!(first.warm && second.warm, "{first:?} {second:?}");
    assert_ne!(first.runner_pid, second.runner_pid);
    // The runner answers first and tears its sandbox down right after, then exits.
    let start = Instant::now();
    while process_exists(first.runner_pid) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "a used runner must be gone"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = l.pool_stats();
    assert!(stats.created >= 2 && stats.failed == 0, "{stats:?}");
    assert_eq!((stats.taken, stats.missed), (2, 0), "{stats:?}");
    l.shutdown().await;
}

#[tokio::test]
async fn nothing_of_one_job_reaches_the_next() {
    let _process = shared().await;
    privileged();
    let l = pooled(2, Duration::from_secs(60), "pyth-on-pool-b").await;
    wait_ready(&l, 2).await;
    let mut job = Job::new(
        Language::Python,
        "import os\nopen('/tmp/left', 'w').write('x'); open('left', 'w').write('x')\nprint(os.environ['API_TOKEN'])",
    );
    job.env = vec![("API_TOKEN".into(), "s3cr3t-of-user-1".into())];
    let first = l.run(job).await.unwrap();
    assert_eq!(first.result.stdout, "s3cr3t-of-user-1\n");

    let probe = "import os\nprint(os.environ.get('API_TOKEN'), os.path.exists('/tmp/left'), os.listdir('.'), sorted(p for p in os.listdir('/proc') if p.isdigit()))";
    let second = l.run(Job::new(Language::Python, probe)).await.unwrap();

    assert!(first.warm && second.warm);
    assert_eq!(second.result.stdout, "None False [] ['2']\n");
    l.shutdown().await;
}

#[tokio::test]
async fn an_empty_pool_falls_back_to_the_cold_path_and_a_burst_is_all_answered() {
    let _process = shared().await;
    privileged();
    let l = pooled(1, Duration::from_secs(60), "pyth-on-pool-c").await;
    wait_ready(&l, 1).await;

    let runs = (0..8).map(|i| {
        let l = l.clone();
        tokio::spawn(async move {
            let mut job = Job::new(Language::Python, "import sys\nprint(sys.argv[1])");
            job.args = vec![i.to_string()];
            l.run(job).await.unwrap()
        })
    });
    let mut outs = Vec::new();
    for r in runs.collect::<Vec<_>>() {
        outs.push(r.await.unwrap());
    }

    for (i, out) in outs.iter().enumerate() {
        assert_eq!(out.result.stdout, format!("{i}\n"));
    }
    assert!(outs.iter().any(|o| o.warm), "the ready runner was used");
    assert!(outs.iter().any(|o| !o.warm), "the rest went cold");
    l.shutdown().await;
}

#[tokio::test]
async fn a_job_memory_limit_and_timeout_apply_in_a_prepared_runner() {
    let _process = shared().await;
    privileged();
    let l = pooled(2, Duration::from_secs(60), "pyth-on-pool-d").await;
    wait_ready(&l, 2).await;
    let mut hog = Job::new(Language::Python, "x = bytearray(200 << 20)\nprint('no')");
    hog.memory_mb = Some(64);
    let mut slow = Job::new(Language::Python, "while True: pass");
    slow.timeout_ms = Some(300);

    let hog = l.run(hog).await.unwrap();
    let slow = l.run(slow).await.unwrap();

    assert!(hog.warm && hog.result.memory_exceeded, "{hog:?}");
    assert!(slow.warm && slow.result.timed_out, "{slow:?}");
    l.shutdown().await;
}

#[tokio::test]
async fn jobs_a_prestarted_interpreter_cannot_serve_take_the_cold_path() {
    let _process = shared().await;
    privileged();
    let l = pooled(1, Duration::from_secs(60), "pyth-on-pool-f").await;
    wait_ready(&l, 1).await;
    let mut long = Job::new(Language::Python, "print('long')");
    long.timeout_ms = Some(LauncherConfig::new(Runtimes::default()).limits.timeout_ms + 1_000);
    let mut small = Job::new(Language::Python, "print('small')");
    small.memory_mb = Some(32);
    // Read only while the interpreter starts: a running one would ignore it.
    let mut seeded = Job::new(
        Language::Python,
        "import sys; print(sys.flags.hash_randomization, hash('a') == hash('a'))",
    );
    seeded.env = vec![("PYTHONHASHSEED".into(), "0".into())];

    let long = l.run(long).await.unwrap();
    let small = l.run(small).await.unwrap();
    let seeded = l.run(seeded).await.unwrap();
    wait_ready(&l, 1).await;
    let fits = l
        .run(Job::new(Language::Python, "print('fits')"))
        .await
        .unwrap();

    assert!(!long.warm && long.result.stdout == "long\n", "{long:?}");
    assert!(!small.warm && small.result.stdout == "small\n", "{small:?}");
    assert!(
        !seeded.warm && seeded.result.stdout == "0 True\n",
        "{seeded:?}"
    );
    assert!(fits.warm && fits.result.stdout == "fits\n", "{fits:?}");
    l.shutdown().await;
}

#[tokio::test]
async fn a_node_job_runs_in_a_prestarted_interpreter() {
    let _process = shared().await;
    privileged();
    let l = pooled(1, Duration::from_secs(60), "pyth-on-pool-g").await;
    let start = Instant::now();
    while l.pool_stats_for(Language::Javascript).ready < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            l.pool_stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut job = Job::new(
        Language::Javascript,
        "console.log(process.argv[2], process.env.X)",
    );
    job.args = vec!["arg".into()];
    job.env = vec![("X".into(), "y".into())];
    let out = l.run(job).await.unwrap();
    assert!(out.warm, "{out:?}");
    assert_eq!(out.result.stdout, "arg y\n");
    l.shutdown().await;
}

#[tokio::test]
async fn stale_runners_are_recycled_and_shutdown_leaves_no_process_or_cgroup() {
    let _process = alone().await;
    privileged();
    let parent = "pyth-on-pool-e";
    let l = pooled(2, Duration::from_millis(300), parent).await;
    wait_ready(&l, 2).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    wait_ready(&l, 2).await;
    let stats = l.pool_stats();
    assert!(stats.created > 2, "stale runners were replaced: {stats:?}");
    assert!(
        !leftover_groups(parent).is_empty(),
        "prepared runners own cgroups"
    );

    l.shutdown().await;

    assert_eq!(l.pool_stats().ready, 0);
    let children: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|s| s.contains("(pyth-on-runner)") && !s.contains(") Z "))
        .filter(|s| {
            s.split(") ").nth(1).and_then(|r| r.split(' ').nth(1))
                == Some(&std::process::id().to_string())
        })
        .collect();
    assert!(children.is_empty(), "runners left: {children:?}");
    assert!(
        leftover_groups(parent).is_empty(),
        "{:?}",
        leftover_groups(parent)
    );
    assert!(matches!(
        l.run(Job::new(Language::Python, "print(1)")).await,
        Err(pyth_on_launcher::LaunchError::Closed)
    ));
}

/// CPU time the whole machine spent so far (user + system over every CPU, `/proc/stat`), in ms.
fn machine_cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpu = stat.lines().next().unwrap();
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    let v: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap())
        .collect();
    let busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    busy * 1000.0 / 100.0 // USER_HZ is 100 on Linux
}

/// p50 of printing `1`, cold vs pre-isolated vs pre-started, Python and Node, and the CPU a
/// run costs the machine (which bounds throughput: 2 cores / CPU per run). `cargo test -p pyth-on-launcher --release --test pool --
/// --ignored --nocapture print_latency_cold_vs_preisolated_vs_prestarted`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn print_latency_cold_vs_preisolated_vs_prestarted() {
    let _process = shared().await;
    privileged();
    let hello = |language| match language {
        Language::Python => "print(1)",
        Language::Javascript => "console.log(1)",
    };
    for language in [Language::Python, Language::Javascript] {
        for (mode, size, prestart) in [
            ("cold", 0usize, false),
            ("pre-isolated", 4, false),
            ("pre-started", 4, true),
        ] {
            let l = pooled_with(
                size,
                Duration::from_secs(60),
                "pyth-on-pool-bench",
                prestart,
            )
            .await;
            let (mut wall, mut setup, mut run) = (vec![], vec![], vec![]);
            let mut warm = 0;
            let cpu_before = machine_cpu_ms();
            for _ in 0..40 {
                if size > 0 {
                    // A full pool: no refill competes with the measured run for the CPUs.
                    let start = Instant::now();
                    while l.pool_stats_for(language).ready < size {
                        assert!(start.elapsed() < Duration::from_secs(30));
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                let t = Instant::now();
                let out = l.run(Job::new(language, hello(language))).await.unwrap();
                wall.push(t.elapsed().as_secs_f64() * 1000.0);
                setup.push(out.result.timings.setup_ms);
                run.push(out.result.timings.run_ms);
                warm += usize::from(out.warm);
                assert_eq!(out.result.stdout, "1\n");
            }
            // Refill included: the loop waits for a full pool before each run.
            while size > 0 && l.pool_stats_for(language).ready < size {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let cpu_per_run = (machine_cpu_ms() - cpu_before) / 40.0;
            let p = |v: &mut Vec<f64>, q: f64| {
                v.sort_by(|a, b| a.partial_cmp(b).unwrap());
                v[((v.len() - 1) as f64 * q) as usize]
            };
            println!(
                "{language:?} {mode}: wall p50 {:.1} ms p90 {:.1} ms | setup p50 {:.2} | user code->exit p50 {:.1} | CPU per run {cpu_per_run:.1} ms (all processes, refill included) | {warm}/40 warm",
                p(&mut wall.clone(), 0.5),
                p(&mut wall, 0.9),
                p(&mut setup, 0.5),
                p(&mut run, 0.5),
            );
            l.shutdown().await;
        }
    }
}
