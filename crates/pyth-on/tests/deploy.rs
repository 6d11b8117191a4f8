//! The release and deployment artefacts: `pyth-on --version` names the git revision; in
//! `deploy/`, the systemd unit passes `systemd-analyze verify`
//! without a word, the server works under the unit's capability bounding set,
//! `NoNewPrivileges` and a read-only host file system (what `ProtectSystem=strict` leaves
//! writable), and the Kubernetes manifests are valid against the Kubernetes schemas. The
//! container image's tests are in `deploy/container.rs`.
#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod common;
#[path = "deploy/container.rs"]
mod container;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::server::text;
use common::{answering, bin, free_addr, serve};

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `deploy/systemd/pyth-on.service`.
fn unit() -> String {
    std::fs::read_to_string(repo().join("deploy/systemd/pyth-on.service")).unwrap()
}

/// The value of the unit's one `key=` line.
fn directive(unit: &str, key: &str) -> String {
    let prefix = format!("{key}=");
    let values: Vec<&str> = unit
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .collect();
    assert_eq!(values.len(), 1, "one {key}= line in the unit");
    values[0].to_owned()
}

/// A tool the test needs, or a failure saying how to install it.
fn tool(name: &str, install: &str) -> &'static str {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is not installed: {install} (.ci/run installs it)"
    );
    Box::leak(text(&found.stdout).trim().to_owned().into_boxed_str())
}

#[test]
fn the_version_names_the_git_revision_the_binary_was_built_from() {
    let out = Command::new(bin()).arg("--version").output().unwrap();
    let version = text(&out.stdout);

    assert!(out.status.success(), "{}", text(&out.stderr));
    let revision = version
        .strip_prefix(concat!("pyth-on ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("not `pyth-on VERSION (REVISION)`: {version:?}"));
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo())
        .output();
    match head {
        Ok(head) if head.status.success() => {
            let head = text(&head.stdout).trim().to_owned();
            assert!(
                revision == head || revision == format!("{head}-dirty"),
                "{revision} is not HEAD {head}"
            );
        }
        _ => assert_eq!(revision, "unknown"),
    }
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify_without_a_warning() {
    let analyze = tool("systemd-analyze", "apt-get install systemd");
    let unit = unit();
    assert_eq!(
        directive(&unit, "ExecStart"),
        "/usr/local/bin/pyth-on serve"
    );
    // verify checks that ExecStart's binary exists: this build's stands in for the installed one.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("pyth-on.service");
    let exec = format!("ExecStart={} serve", bin());
    std::fs::write(
        &copy,
        unit.replace("ExecStart=/usr/local/bin/pyth-on serve", &exec),
    )
    .unwrap();

    let out = Command::new(analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();

    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success() && said.is_empty(), "{said}");
}

#[test]
fn the_units_stop_timeout_outlasts_the_servers_drain() {
    let unit = unit();
    let timeout: u64 = directive(&unit, "TimeoutStopSec")
        .trim_end_matches('s')
        .parse()
        .unwrap();
    let env = std::fs::read_to_string(repo().join("deploy/systemd/pyth-on.env")).unwrap();
    let grace: u64 = env
        .lines()
        .find_map(|l| {
            l.trim_start_matches('#')
                .strip_prefix("PYTH_ON_SHUTDOWN_GRACE_SECS=")
        })
        .unwrap()
        .parse()
        .unwrap();

    assert!(timeout > grace, "TimeoutStopSec {timeout} <= grace {grace}");
    assert_eq!(directive(&unit, "KillMode"), "mixed");
}

/// Makes the host file system read-only in a mount namespace of its own, as
/// `ProtectSystem=strict` does (the data directory, `/run/pyth-on` and `/tmp` stay writable:
/// the unit's StateDirectory, RuntimeDirectory and PrivateTmp), checks that it is, then execs
/// `setpriv` with the unit's capability bounding set and `no_new_privs` on the rest.
const PROTECT_SYSTEM: &str = r#"set -e
mount --make-rprivate /
mkdir -p /run/pyth-on
for w in /tmp /run/pyth-on; do mount --bind "$w" "$w"; done
findmnt -rn -o TARGET | while read -r m; do
  case "$m" in
    /dev|/dev/*|/proc|/proc/*|/sys|/sys/*|/tmp|/tmp/*|/run/pyth-on|/run/pyth-on/*) ;;
    *) mount -o remount,bind,ro "$m" ;;
  esac
done
if touch /usr/.pyth-on-write-check 2>/dev/null; then echo "/usr is writable" >&2; exit 1; fi
exec setpriv "$@""#;

/// `pyth-on serve` (the command `serve` builds) under the unit's hardening.
fn hardened(serve: &Command) -> Command {
    let unit = unit();
    assert_eq!(directive(&unit, "NoNewPrivileges"), "yes");
    assert_eq!(directive(&unit, "ProtectSystem"), "strict");
    let caps: Vec<String> = directive(&unit, "CapabilityBoundingSet")
        .split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    let mut cmd = Command::new(tool("unshare", "apt-get install util-linux"));
    cmd.args(["--mount", "--", "sh", "-c", PROTECT_SYSTEM, "sh"])
        .arg(format!("--bounding-set=-all,{}", caps.join(",")))
        .args(["--inh-caps=-all", "--no-new-privs", "--"])
        .arg(serve.get_program())
        .args(serve.get_args());
    for (name, value) in serve.get_envs() {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    cmd
}

/// Stops the server on drop.
struct Stop(Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_server_runs_code_under_the_units_capabilities_and_a_read_only_system() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut cmd = serve(&dir.path().join("data"), addr);
    cmd.args(["--pool-size", "1", "--run-uid-count", "100"])
        .args(["--run-uid-start", "1770000000"]);
    let _server = Stop(
        hardened(&cmd)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = answering(addr).await;

    let health = reqwest::get(format!("http://{addr}/api/health"))
        .await
        .unwrap();
    let status = health.status();
    let body = health.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let key = client
        .register("deploy@example.com", "correct horse battery staple")
        .await
        .unwrap()
        .api_key
        .unwrap();
    let client = client.with_api_key(key);
    for (language, code, want) in [
        (
            "python",
            "import os; print(os.getuid() >= 1770000000)",
            "True\n",
        ),
        ("javascript", "console.log(6 * 7)", "42\n"),
    ] {
        let run = tokio::time::timeout(
            Duration::from_secs(20),
            client.execute(&pyth_on_types::ExecuteRequest {
                code: code.into(),
                language: Some(language.into()),
                ..Default::default()
            }),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(run.output, want, "{language}: {run:?}");
    }
    // The unit's capabilities let the Python fork server work: a forked payload's parent is
    // outside its PID namespace (0); an interpreter started per run has init (1).
    let mut parents = Vec::new();
    for _ in 0..50 {
        let run = client
            .execute(&pyth_on_types::ExecuteRequest {
                code: "import os; print(os.getppid())".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        parents.push(run.output.clone());
        if run.output == "0\n" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no run was forked from the fork server: {parents:?}");
}

/// `deploy/kubernetes/NAME`.
fn manifest(name: &str) -> PathBuf {
    repo().join("deploy/kubernetes").join(name)
}

/// `kubernetes-validate --strict` on `files`: its success and what it said.
fn validate(files: &[PathBuf]) -> (bool, String) {
    let validator = tool(
        "kubernetes-validate",
        "pip install kubernetes-validate==1.37.0",
    );
    let out = Command::new(validator)
        .args(["--strict", "--quiet"])
        .args(files)
        .output()
        .unwrap();
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    (out.status.success(), said)
}

/// Every manifest but the kustomization (no schema of the Kubernetes API covers it).
fn manifests() -> Vec<PathBuf> {
    let kustomization = std::fs::read_to_string(manifest("kustomization.yaml")).unwrap();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(repo().join("deploy/kubernetes")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            assert!(
                kustomization.contains(&format!("  - {name}\n")),
                "{name} is not in kustomization.yaml"
            );
            files.push(manifest(&name));
        }
    }
    files.sort();
    files
}

#[test]
fn the_kubernetes_manifests_are_valid_against_the_kubernetes_schemas() {
    let files = manifests();
    assert!(files.len() >= 7, "{files:?}");

    let (ok, said) = validate(&files);

    assert!(ok && said.is_empty(), "{said}");
}

#[test]
fn a_manifest_with_a_field_kubernetes_does_not_know_is_refused() {
    let deployment = std::fs::read_to_string(manifest("deployment.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("deployment.yaml");
    std::fs::write(&bad, deployment.replace("  replicas: 3", "  replica: 3")).unwrap();

    let (ok, said) = validate(&[bad]);

    assert!(!ok && said.contains("'replica' was unexpected"), "{said}");
}

/// The number after `key: ` on the manifest's one line holding it (quotes dropped).
fn number(yaml: &str, key: &str) -> u64 {
    let values: Vec<u64> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
        .map(|v| v.trim_matches('"').parse().unwrap())
        .collect();
    assert_eq!(values.len(), 1, "one {key} in the manifest");
    values[0]
}

#[test]
fn the_pods_grace_period_outlasts_the_pause_before_the_drain_and_the_drain() {
    let deployment = std::fs::read_to_string(manifest("deployment.yaml")).unwrap();
    let settings = std::fs::read_to_string(manifest("configmap.yaml")).unwrap();

    let grace = number(&deployment, "terminationGracePeriodSeconds");
    let pause = number(&deployment, "seconds");
    let drain = number(&settings, "PYTH_ON_SHUTDOWN_GRACE_SECS");

    assert!(grace > pause + drain, "{grace} <= {pause} + {drain}");
    assert_eq!(number(&deployment, "replicas"), 3);
    assert!(deployment.contains("value: http://$(POD_IP):8080"));
}
