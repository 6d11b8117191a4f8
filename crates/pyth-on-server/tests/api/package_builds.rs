//! Package builds run in the build sandbox: a hostile sdist and a hostile npm install script
//! cannot reach the host (no file, no loopback connection, no process left) and still install;
//! a private index behind a test CA works with the CA bundle setting; the README's relative
//! data directory works with packages; a run waiting for a build holds no execution slot.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyth_on_server::domain::Language;
use pyth_on_server::packages::PackageSpec;
use pyth_on_types::ExecuteRequest;
use serde_json::Value;

use crate::package_index::{
    build_manager, config, py, run_python, start_index, start_index_with, store, Bait, FIXTURES,
};
use crate::support::TestServer;

/// The token in the command line of the process each hostile build tries to leave behind.
const SLEEPER: &str = "pyth-on-evil-sleeper";

/// A loopback listener that counts the connections it accepts.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, count)
}

/// Host processes whose command line holds `token`.
fn processes_with(token: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmd| cmd.contains(token))
        .collect()
}

/// What a hostile build saw from inside, as its installed package recorded it.
fn assert_contained(observed: &Value, bait: &Bait, build_ids: (u32, u32)) {
    assert_eq!(observed["marker_written"], false, "{observed}");
    assert!(!bait.marker.exists(), "the build wrote into the host");
    assert_ne!(observed["direct_connect"], "ok", "{observed}");
    let proxied = observed["proxy_connect"].as_str().unwrap_or_default();
    assert!(proxied.contains("403"), "through the proxy: {observed}");
    let pids = observed["proc_pids"].as_u64().unwrap();
    assert!(pids < 16, "the build saw {pids} processes: {observed}");
    let uid = u32::try_from(observed["uid"].as_u64().unwrap()).unwrap();
    assert!(
        (build_ids.0..build_ids.0 + build_ids.1).contains(&uid),
        "uid {uid}"
    );
    assert_eq!(observed["sleeper_started"], true, "{observed}");
}

#[tokio::test]
async fn no_package_build_code_reaches_the_host_and_the_packages_still_install() {
    if !pyth_on_sandbox::running_as_root() {
        panic!("the build sandbox needs root: run the tests as root");
    }
    let (port, connections) = counting_listener().await;
    // A host directory the build cannot see (its /tmp is its own).
    let dir = tempfile::tempdir().unwrap();
    let bait = Bait {
        marker: dir.path().join("marker"),
        port,
    };
    let index = start_index_with(Some(&bait)).await;
    let store = store(dir.path()).await;
    let cfg = config(dir.path(), &index);
    let ids = cfg.build_ids;
    let manager = build_manager(cfg).await;
    // Python: an sdist whose PEP 517 backend runs code while building.
    let mount = manager
        .ensure(store.as_ref(), Language::Python, &py(&["pyevil"]))
        .await
        .unwrap()
        .unwrap();
    let site = mount.host_path.join("site-packages");
    let observed: Value = serde_json::from_str(&run_python(
        &site,
        "import json, pyevil; print(json.dumps(pyevil.OBSERVED))",
    ))
    .unwrap();
    assert_contained(&observed, &bait, ids);
    assert!(
        processes_with(SLEEPER).is_empty(),
        "{:?}",
        processes_with(SLEEPER)
    );
    // JavaScript: an npm package with an install script (scripts run, in the sandbox).
    let js = [PackageSpec::parse(Language::Javascript, "jsevil@1").unwrap()];
    let mount = manager
        .ensure(store.as_ref(), Language::Javascript, &js)
        .await
        .unwrap()
        .unwrap();
    let recorded = mount.host_path.join("node_modules/jsevil/observed.json");
    let observed: Value =
        serde_json::from_slice(&std::fs::read(&recorded).expect("the install script ran")).unwrap();
    assert_contained(&observed, &bait, ids);
    assert!(
        processes_with(SLEEPER).is_empty(),
        "{:?}",
        processes_with(SLEEPER)
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "a build reached the host's loopback"
    );
    assert!(
        std::fs::read_dir(dir.path().join("builds"))
            .unwrap()
            .next()
            .is_none(),
        "nothing of the builds is left in the build directory"
    );
}

/// `make_test_ca.sh` output and a static HTTPS index served with the test CA's certificate.
struct HttpsIndex {
    url: String,
    ca: PathBuf,
    server: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for HttpsIndex {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn https_index() -> HttpsIndex {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let (certs, tree) = (dir.path().join("certs"), dir.path().join("tree"));
    std::fs::create_dir_all(&tree).unwrap();
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ok(std::process::Command::new("bash")
        .arg(format!("{FIXTURES}/make_test_ca.sh"))
        .arg(&certs)
        .output()
        .unwrap());
    ok(std::process::Command::new("/usr/bin/python3")
        .arg(format!("{FIXTURES}/make_fixtures.py"))
        .arg(&tree)
        .arg("--static")
        .output()
        .unwrap());
    let mut server = std::process::Command::new("/usr/bin/python3")
        .arg(format!("{FIXTURES}/serve_https.py"))
        .args([&tree, &certs.join("server.pem"), &certs.join("server.key")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("serve_https.py prints its port");
    HttpsIndex {
        url: format!("https://127.0.0.1:{port}/simple/"),
        ca: certs.join("ca.pem"),
        server,
        _dir: dir,
    }
}

#[tokio::test]
async fn builds_trust_the_configured_ca_bundle_and_only_it() {
    let https = https_index();
    let with_uv = pyth_on_server::packages::PackageConfig::new(Path::new("/x"), "/p").uv;
    for uv in [None, with_uv]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
    {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        let plain = start_index().await;
        let mut cfg = config(dir.path(), &plain);
        cfg.pypi_index_url = Some(https.url.clone());
        cfg.uv = uv.clone();
        cfg.ca_bundle = Some(https.ca.clone());
        let manager = build_manager(cfg.clone()).await;
        let mount = manager
            .ensure(store.as_ref(), Language::Python, &py(&["pythonhello"]))
            .await
            .unwrap_or_else(|e| panic!("{uv:?}: {e}"))
            .unwrap();
        assert!(mount.host_path.join("site-packages/pythonhello").is_dir());
        // Without the test CA (the system store only) the same index is refused.
        let other = tempfile::tempdir().unwrap();
        let mut cfg = config(other.path(), &plain);
        cfg.pypi_index_url = Some(https.url.clone());
        cfg.uv = uv.clone();
        let store = crate::package_index::store(other.path()).await;
        let err = build_manager(cfg)
            .await
            .ensure(store.as_ref(), Language::Python, &py(&["pythonhello"]))
            .await
            .unwrap_err();
        let text = err.to_string().to_ascii_lowercase();
        assert!(text.contains("certificate"), "{uv:?}: {err}");
    }
}

#[tokio::test]
async fn the_readmes_relative_data_directory_works_with_packages() {
    let index = start_index().await;
    let base = std::env::current_dir().unwrap();
    let tmp = tempfile::tempdir_in(base.join("../../target")).unwrap();
    let relative = pathdiff(tmp.path(), &base).join("pyth-on-data");
    assert!(relative.is_relative());
    let server = TestServer::start_with(|s| {
        s.data_dir = relative.clone();
        s.packages.pypi_index_url = Some(format!("{}/simple/", index.url));
    })
    .await;
    let user = server.user().await;
    let resp = reqwest::Client::new()
        .put(server.url("/api/v1/packages"))
        .header("x-api-key", user.auth.api_key.clone().unwrap())
        .json(&serde_json::json!({"packages": ["pythonhello"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    for code in [
        "import pythonhello; print(pythonhello.GREETING)",
        "print(1)",
    ] {
        let run = ExecuteRequest {
            code: code.into(),
            ..Default::default()
        };
        let result = user.key.execute(&run).await.unwrap();
        assert_eq!(result.exit_code, 0, "{result:?}");
    }
    server.stop().await.unwrap();
}

/// `path` relative to `base` (both absolute, `path` below `base`'s grandparent).
fn pathdiff(path: &Path, base: &Path) -> PathBuf {
    let path = std::fs::canonicalize(path).unwrap();
    let base = std::fs::canonicalize(base).unwrap();
    let common = base.ancestors().find(|a| path.starts_with(a)).unwrap();
    let ups = base.strip_prefix(common).unwrap().components().count();
    let mut out = PathBuf::new();
    for _ in 0..ups {
        out.push("..");
    }
    out.join(path.strip_prefix(common).unwrap())
}

#[tokio::test]
async fn a_run_waiting_for_a_package_build_holds_no_execution_slot() {
    let index = start_index().await;
    let server = TestServer::start_with(|s| {
        s.runs.max_parallel_runs = Some(1);
        s.packages.pypi_index_url = Some(format!("{}/simple/", index.url));
    })
    .await;
    let (ada, bob) = (server.user().await, server.user().await);
    let slow = ExecuteRequest {
        code: "import slowhello; print(slowhello.GREETING)".into(),
        packages: Some(vec!["slowhello".into()]),
        ..Default::default()
    };
    let waiting = tokio::spawn(async move { ada.key.execute(&slow).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let quick = ExecuteRequest {
        code: "print(1)".into(),
        ..Default::default()
    };
    let result = bob.key.execute(&quick).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(result.output, "1\n");
    assert!(!waiting.is_finished(), "the build was still running");
    assert!(
        waited < crate::package_index::SLOW_DOWNLOAD - Duration::from_millis(1500),
        "bob waited {waited:?} behind ada's package build"
    );
    let slow = waiting.await.unwrap().unwrap();
    assert_eq!(slow.output.trim(), "hello from slowhello 1.0", "{slow:?}");
}
