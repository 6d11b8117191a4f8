//! Shared helpers of the launcher's integration tests: the runner binary and the root check.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use pyth_on_launcher::{locate_runner, LauncherConfig, RuntimeConfig, Runtimes};

/// This build's `pyth-on-runner`, next to the test binary's directory (`cargo build
/// --workspace` puts it there; the README's test command runs that first).
///
/// It is not built from here: `cargo build -p pyth-on-sandbox` alone resolves the sandbox's
/// dependencies with other features than the workspace build, so it recompiled them (about 50
/// s of the suite, once per fresh target directory).
pub fn runner() -> PathBuf {
    static RUNNER: OnceLock<PathBuf> = OnceLock::new();
    RUNNER
        .get_or_init(|| {
            locate_runner(None).expect(
                "pyth-on-runner next to the test binary: run `cargo build --workspace` first",
            )
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

/// The launcher settings of a test: this machine's runtimes and this build's runner, the
/// rest at their defaults.
pub async fn config() -> LauncherConfig {
    let runtimes = Runtimes::detect(&RuntimeConfig::default()).await;
    let mut cfg = LauncherConfig::new(runtimes);
    cfg.runner_path = Some(runner());
    cfg
}
