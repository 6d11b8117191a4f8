//! Readiness: what serving needs, checked for real. The database answers a ping; the key
//! directory loads (the secrets keyring and the JWT key file); the sandbox **runs a program**
//! (a tiny job through the launcher, not just a runner that starts: run as non-root, with a
//! broken runner or interpreter, it fails); each package directory is usable. The sandbox
//! check is cached for [`SANDBOX_TTL`] (it costs a run) and refreshed on demand by one caller
//! at a time.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use pyth_on_launcher::{Job, Language};

use crate::state::AppState;

/// How long a sandbox self-test run is trusted.
pub const SANDBOX_TTL: Duration = Duration::from_secs(30);

/// Each check by name: `ok` or a short reason.
pub type Checks = BTreeMap<String, String>;

/// Runs every readiness check; all `ok` means the node can serve.
pub async fn readiness(state: &AppState) -> Checks {
    let mut checks = Checks::new();
    checks.insert("database".into(), database(state).await);
    checks.insert("keys".into(), keys(state));
    checks.insert("sandbox".into(), sandbox(state).await);
    if let Some(manager) = state.packages() {
        let cfg = manager.config();
        checks.insert("packages".into(), writable(&[&cfg.root, &cfg.build_dir]));
    }
    checks
}

async fn database(state: &AppState) -> String {
    match state.store().ping().await {
        Ok(()) => "ok".into(),
        Err(err) => {
            tracing::warn!(error = %err, "health: database check failed");
            "unavailable".into()
        }
    }
}

/// The key directory still holds the keys this node uses: the keyring loads from it (without
/// creating anything) with the same versions, and the JWT key file is there.
fn keys(state: &AppState) -> String {
    let dir = state.settings().key_dir();
    match pyth_on_crypto::Keyring::load(&dir) {
        Ok(on_disk) if on_disk.versions() == state.keyring().versions() => {}
        Ok(_) => return "the key directory holds other key versions than this node".into(),
        Err(err) => {
            tracing::warn!(error = %err, "health: the secrets keyring does not load");
            return "the secrets keyring does not load".into();
        }
    }
    if !dir.join(crate::settings::JWT_KEY_FILE).is_file() {
        return "the JWT signing key is missing".into();
    }
    "ok".into()
}

/// A real run of the first available language (cached for [`SANDBOX_TTL`]).
async fn sandbox(state: &AppState) -> String {
    let mut last = state.sandbox_probe().0.lock().await;
    if let Some((at, verdict)) = last.as_ref() {
        if at.elapsed() < SANDBOX_TTL {
            return verdict.clone();
        }
    }
    let verdict = probe_run(state).await;
    if verdict != "ok" {
        tracing::warn!(reason = %verdict, "health: sandbox check failed");
    }
    *last = Some((Instant::now(), verdict.clone()));
    verdict
}

async fn probe_run(state: &AppState) -> String {
    let launcher = state.launcher();
    let (language, code) = match (
        launcher.runtimes().python.is_some(),
        launcher.runtimes().javascript.is_some(),
    ) {
        (true, _) => (Language::Python, "print('ok')"),
        (false, true) => (Language::Javascript, "console.log('ok')"),
        (false, false) => return "no runtime available".into(),
    };
    let mut job = Job::new(language, code);
    job.timeout_ms = Some(10_000);
    match launcher.run(job).await {
        Ok(out) if out.result.exit_code == 0 && out.result.stdout == "ok\n" => "ok".into(),
        Ok(out) => format!("a test run exited with {}", out.result.exit_code),
        Err(err) => {
            tracing::warn!(error = %err, "health: the test run failed");
            "a test run failed".into()
        }
    }
}

/// Each directory exists and takes a file.
fn writable(dirs: &[&Path]) -> String {
    for dir in dirs {
        let probe = dir.join(format!(".health-{}", uuid::Uuid::now_v7().simple()));
        match std::fs::write(&probe, b"") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(err) => {
                tracing::warn!(error = %err, dir = %dir.display(), "health: package directory");
                return "a package directory is not usable".into();
            }
        }
    }
    "ok".into()
}
