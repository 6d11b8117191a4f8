//! Shared helpers of the launcher's integration tests: the runner binary and the root check.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use pyth_on_launcher::locate_runner;

/// Builds `pyth-on-runner` once with the same cargo and profile, then finds it.
pub fn runner() -> PathBuf {
    static RUNNER: OnceLock<PathBuf> = OnceLock::new();
    RUNNER
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            // Build the same profile as this test binary (target/<profile>/deps/<test>).
            let exe = std::env::current_exe().unwrap();
            let profile = exe
                .parent()
                .and_then(|d| d.parent())
                .and_then(|d| d.file_name());
            let mut args = vec![
                "build",
                "-q",
                "-p",
                "pyth-on-sandbox",
                "--bin",
                "pyth-on-runner",
            ];
            if profile.is_some_and(|p| p == "release") {
                args.push("--release");
            }
            let status = std::process::Command::new(cargo)
                .args(&args)
                .status()
                .expect("run cargo build for the runner");
            assert!(status.success(), "building pyth-on-runner failed");
            locate_runner(None)
                .expect("pyth-on-runner next to the test binary (cargo build -p pyth-on-sandbox)")
        })
        .clone()
}

/// Fails the test, loudly, unless it runs as root: a sandbox test that cannot run must not
/// pass (CI runs as root).
pub fn privileged() {
    assert!(
        pyth_on_sandbox::running_as_root(),
        "launcher sandbox tests need root: run them as root, as CI does"
    );
}
