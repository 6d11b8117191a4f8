//! The launcher end to end: real runtimes, the real runner binary, real sandboxes (as root).
//!
//! The runner binary belongs to another crate, so `CARGO_BIN_EXE_pyth-on-runner` is not
//! available here: `common::runner` finds the one `cargo build --workspace` put beside this
//! test binary's directory.

#![allow(clippy::unwrap_used, reason = "test helpers panic on purpose")]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use pyth_on_launcher::{
    Job, Language, LaunchError, Launcher, LauncherConfig, RuntimeConfig, Runtimes, ZkJob, ZkOutcome,
};

use common::{privileged, runner};

async fn launcher() -> Launcher {
    Launcher::new(common::config().await).unwrap()
}

/// A launcher that runs at most `slots` runs at once.
async fn launcher_with_slots(slots: usize) -> Launcher {
    let mut cfg = common::config().await;
    cfg.max_concurrency = slots;
    Launcher::new(cfg).unwrap()
}

#[tokio::test]
async fn detect_finds_real_python_and_node_with_versions() {
    let r = Runtimes::detect(&RuntimeConfig::default()).await;
    let names: Vec<_> = r.languages().iter().map(|l| (l.name, l.aliases)).collect();
    assert_eq!(
        names,
        vec![
            ("python", &["py", "python3"][..]),
            ("javascript", &["js", "node", "nodejs"][..])
        ]
    );
    let py = r.python.expect("python3 on this machine");
    assert!(
        py.interpreter.starts_with("/usr/bin") && py.interpreter.is_file(),
        "Debian's python, resolved to the real binary: {}",
        py.interpreter.display()
    );
    assert!(py.version.starts_with("3."), "{}", py.version);
    let node = r.javascript.expect("node on this machine");
    assert!(
        node.version.split('.').count() == 3 && !node.version.starts_with('v'),
        "{}",
        node.version
    );
}

#[tokio::test]
async fn a_pyenv_shim_is_resolved_to_the_real_interpreter() {
    let shim = PathBuf::from("/root/.pyenv/shims/python3");
    if !shim.exists() {
        eprintln!("SKIPPED: no pyenv shim on this machine");
        return;
    }
    let r = Runtimes::detect(&RuntimeConfig {
        python: Some(shim.clone()),
        node: None,
    })
    .await;
    let py = r.python.expect("the shim's interpreter");
    assert_ne!(py.interpreter, shim);
    assert!(
        !py.interpreter.starts_with("/root/.pyenv/shims"),
        "{}",
        py.interpreter.display()
    );
    assert!(py
        .ro_mounts
        .iter()
        .any(|m| py.interpreter.starts_with(m) && !m.starts_with("/usr")));
}

/// The payload of the golden vector (`docs/zkcode-v1-vector.json`: `print("hello, zk")`).
fn golden_payload() -> String {
    let vector: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/zkcode-v1-vector.json")).unwrap();
    vector["outputs"]["payload"].to_string()
}

fn golden(password: &str, name: &str) -> Job {
    Job::zk(
        Language::Python,
        ZkJob {
            payload: golden_payload(),
            password: zeroize::Zeroizing::new(password.into()),
            owner: "0190a6f2-5b7c-7d2e-8f00-123456789abc".parse().unwrap(),
            name: name.into(),
        },
    )
}

#[tokio::test]
async fn a_zk_job_is_decrypted_in_the_sandbox_and_failures_are_reported() {
    privileged();
    let l = launcher().await;
    let out = l
        .run(golden("correct horse battery staple", "hello.py"))
        .await
        .unwrap();
    assert_eq!(out.result.zk, Some(ZkOutcome::Decrypted));
    assert_eq!(out.result.stdout, "hello, zk\n");
    let out = l.run(golden("wrong", "hello.py")).await.unwrap();
    assert_eq!(out.result.zk, Some(ZkOutcome::WrongPassword));
    assert!(out.result.stdout.is_empty());
    let out = l
        .run(golden("correct horse battery staple", "other.py"))
        .await
        .unwrap();
    assert_eq!(out.result.zk, Some(ZkOutcome::Integrity));
}

#[test]
fn a_zk_job_debug_redacts_the_password() {
    let job = golden("hunter2-secret", "hello.py");
    let s = format!("{job:?}");
    assert!(
        !s.contains("hunter2-secret") && s.contains("redacted"),
        "{s}"
    );
}

#[tokio::test]
async fn python_and_node_run_through_the_launcher() {
    privileged();
    let l = launcher().await;
    let mut job = Job::new(
        Language::Python,
        "import sys\nprint(sys.stdin.read(), sys.argv[1])",
    );
    job.stdin = "in".into();
    job.args = vec!["arg".into()];
    let out = l.run(job).await.unwrap();
    assert_eq!(
        (out.result.stdout.as_str(), out.result.exit_code),
        ("in arg\n", 0)
    );
    let out = l
        .run(Job::new(
            Language::Javascript,
            "console.log(process.versions.node)",
        ))
        .await
        .unwrap();
    assert_eq!(
        out.result.stdout.trim(),
        l.runtimes().javascript.as_ref().unwrap().version
    );
}

#[tokio::test]
async fn a_pyenv_interpreter_outside_usr_also_runs() {
    privileged();
    let shim = PathBuf::from("/root/.pyenv/shims/python3");
    if !shim.exists() {
        eprintln!("SKIPPED: no pyenv on this machine");
        return;
    }
    let runtimes = Runtimes::detect(&RuntimeConfig {
        python: Some(shim),
        node: None,
    })
    .await;
    let version = runtimes.python.as_ref().unwrap().version.clone();
    let mut cfg = LauncherConfig::new(runtimes);
    cfg.runner_path = Some(runner());
    let l = Launcher::new(cfg).unwrap();
    let out = l
        .run(Job::new(
            Language::Python,
            "import platform\nprint(platform.python_version())",
        ))
        .await
        .unwrap();
    assert_eq!(out.result.stdout.trim(), version, "{:?}", out.result);
}

#[tokio::test]
async fn job_limits_override_the_defaults() {
    privileged();
    let l = launcher().await;
    let mut job = Job::new(Language::Python, "while True: pass");
    job.timeout_ms = Some(300);
    let out = l.run(job).await.unwrap();
    assert!(out.result.timed_out, "{:?}", out.result);
}

#[tokio::test]
async fn concurrent_runs_beyond_the_bound_all_complete() {
    privileged();
    let l = launcher_with_slots(2).await;
    let runs = (0..5).map(|i| {
        let l = l.clone();
        tokio::spawn(async move {
            l.run(Job::new(Language::Python, format!("print({i})")))
                .await
        })
    });
    for (i, h) in runs.enumerate() {
        assert_eq!(h.await.unwrap().unwrap().result.stdout, format!("{i}\n"));
    }
}

#[tokio::test]
async fn a_runs_slot_is_free_at_its_result_and_its_sandbox_counts_until_torn_down() {
    privileged();
    let l = launcher_with_slots(1).await;
    for i in 0..3 {
        // A background process still alive at the result: the teardown kills it.
        let code = format!("import subprocess; subprocess.Popen(['sleep', '5']); print({i})");
        let out = l.run(Job::new(Language::Python, code)).await.unwrap();
        assert_eq!(out.result.stdout, format!("{i}\n"));
        let now = l.runs_in_progress();
        assert_eq!(
            now.executing, 0,
            "the slot is back with the result: {now:?}"
        );
        assert!(now.sandboxes <= 2, "{now:?}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while l.runs_in_progress().sandboxes > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "sandboxes never torn down"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Two runs at once with one slot: the second waits for the first's result.
    let (a, b) = tokio::join!(
        l.run(Job::new(Language::Python, "print('a')")),
        l.run(Job::new(Language::Python, "print('b')"))
    );
    assert_eq!(a.unwrap().result.stdout, "a\n");
    assert_eq!(b.unwrap().result.stdout, "b\n");
    l.shutdown().await;
    assert_eq!(
        l.runs_in_progress().sandboxes,
        0,
        "shutdown waits for every teardown"
    );
}

#[tokio::test]
async fn self_test_passes_with_a_working_runner() {
    privileged();
    launcher().await.self_test().await.unwrap();
}

#[tokio::test]
async fn a_hanging_runner_is_killed_by_the_backstop() {
    let dir = tempfile_dir();
    let fake = dir.join("pyth-on-runner");
    std::fs::write(&fake, "#!/bin/sh\nexec sleep 30\n").unwrap();
    set_exec(&fake);
    let runtimes = Runtimes::detect(&RuntimeConfig::default()).await;
    let mut cfg = LauncherConfig::new(runtimes);
    cfg.runner_path = Some(fake);
    cfg.backstop_margin = Duration::from_millis(200);
    let l = Launcher::new(cfg).unwrap();
    let mut job = Job::new(Language::Python, "print(1)");
    job.timeout_ms = Some(100);
    let started = std::time::Instant::now();
    let err = l.run(job).await.unwrap_err();
    assert!(matches!(err, LaunchError::Backstop(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_runner_that_dies_without_a_result_is_an_error() {
    let runtimes = Runtimes::detect(&RuntimeConfig::default()).await;
    let mut cfg = LauncherConfig::new(runtimes);
    cfg.runner_path = Some("/bin/false".into());
    let l = Launcher::new(cfg).unwrap();
    // The runner may exit before or after the job is written; both orders must read the same.
    for _ in 0..20 {
        let err = l
            .run(Job::new(Language::Python, "print(1)"))
            .await
            .unwrap_err();
        assert!(matches!(err, LaunchError::RunnerDied { .. }), "{err}");
    }
}

#[tokio::test]
async fn a_missing_runtime_is_refused_before_spawning() {
    let mut cfg = LauncherConfig::new(Runtimes::default());
    cfg.runner_path = Some("/bin/false".into());
    let l = Launcher::new(cfg).unwrap();
    let err = l
        .run(Job::new(Language::Javascript, "1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LaunchError::RuntimeMissing(Language::Javascript)),
        "{err}"
    );
}

/// p50 of a cold `print(1)` through `Launcher::run`. `cargo test -p pyth-on-launcher --release
/// -- --ignored --nocapture cold_python_print_latency`.
#[tokio::test]
#[ignore = "benchmark"]
async fn cold_python_print_latency() {
    privileged();
    let l = launcher().await;
    for (lang, code) in [
        (Language::Python, "print(1)"),
        (Language::Javascript, "console.log(1)"),
    ] {
        let mut wall = Vec::new();
        let mut setup = Vec::new();
        let mut cg = Vec::new();
        let mut run = Vec::new();
        for _ in 0..30 {
            let t = std::time::Instant::now();
            let out = l.run(Job::new(lang, code)).await.unwrap();
            wall.push(t.elapsed().as_secs_f64() * 1000.0);
            setup.push(out.result.timings.setup_ms);
            cg.push(out.result.timings.cgroup_ms);
            run.push(out.result.timings.run_ms);
        }
        let p = |v: &mut Vec<f64>, q: f64| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v[((v.len() - 1) as f64 * q) as usize]
        };
        println!(
            "{lang:?}: wall p50 {:.1} ms p90 {:.1} ms | setup p50 {:.1} | cgroup p50 {:.2} | exec->exit p50 {:.1}",
            p(&mut wall.clone(), 0.5),
            p(&mut wall, 0.9),
            p(&mut setup, 0.5),
            p(&mut cg, 0.5),
            p(&mut run, 0.5)
        );
    }
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pyth-on-launcher-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn set_exec(p: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Host pids whose real uid is `uid`.
fn processes_of(uid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    let line = s.lines().find_map(|l| l.strip_prefix("Uid:"))?.to_owned();
                    line.split_whitespace().next()?.parse::<u32>().ok()
                })
                == Some(uid)
        })
        .collect()
}

#[tokio::test]
async fn an_abandoned_runs_uid_is_not_leased_again_while_its_sandbox_lives() {
    privileged();
    let mut cfg = common::config().await;
    cfg.identities = Some((1_640_000_000, 1));
    let launcher = Launcher::new(cfg).unwrap();
    let job = Job::new(Language::Python, "import time; time.sleep(20)");
    let started = std::time::Instant::now();
    let abandoned = tokio::time::timeout(Duration::from_millis(1500), launcher.run(job)).await;
    assert!(
        abandoned.is_err(),
        "the run was still going when its caller left"
    );
    // From now on, whenever a process of that run is seen, its uid is still leased.
    let mut seen_alive = false;
    for _ in 0..200 {
        let in_use = launcher.identities_in_use();
        if processes_of(1_640_000_000).is_empty() {
            break;
        }
        seen_alive = true;
        assert_eq!(in_use, 1, "the uid went back while its sandbox was alive");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(processes_of(1_640_000_000).is_empty(), "the sandbox died");
    eprintln!("sandbox gone after {:?}", started.elapsed());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        launcher.identities_in_use(),
        0,
        "and then the uid went back"
    );
    let ok = launcher
        .run(Job::new(Language::Python, "import os; print(os.getuid())"))
        .await
        .unwrap();
    assert_eq!(ok.result.stdout.trim(), "1640000000");
    eprintln!(
        "sandbox processes still alive right after the abandon: {seen_alive}; test took {:?}",
        started.elapsed()
    );
}
