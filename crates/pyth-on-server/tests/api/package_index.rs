//! What the package tests share: a loopback PEP 503 index and npm registry serving packages
//! the test builds (`tests/fixtures/packages/make_fixtures.py`), optionally with the two
//! hostile packages whose build code tries to reach the host, and a [`PackageManager`] whose
//! builds run in the real build sandbox.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path as UrlPath;
use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use pyth_on_launcher::{Launcher, LauncherConfig, RuntimeConfig, Runtimes};
use pyth_on_server::domain::Language;
use pyth_on_server::packages::{BuildSandbox, PackageConfig, PackageManager, PackageSpec};
use pyth_on_store::Store;
use serde_json::{json, Value};

/// How long the index takes to serve `slowhello`'s wheel.
pub const SLOW_DOWNLOAD: Duration = Duration::from_secs(4);

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/packages");

/// A loopback PEP 503 simple index (`/simple/`) and npm registry (`/npm/`).
pub struct Index {
    pub url: String,
    _dir: tempfile::TempDir,
}

/// What the hostile packages try to reach: a host path to write and a loopback port.
pub struct Bait {
    pub marker: PathBuf,
    pub port: u16,
}

/// An index with the two harmless packages (`pythonhello`, `jshello`).
pub async fn start_index() -> Index {
    start_index_with(None).await
}

/// An index that also serves `pyevil` (an sdist whose build runs code) and `jsevil` (an npm
/// package with an install script), both aimed at `bait`.
pub async fn start_index_with(bait: Option<&Bait>) -> Index {
    let dir = tempfile::tempdir().expect("test fixture");
    let mut cmd = std::process::Command::new("/usr/bin/python3");
    cmd.arg(format!("{FIXTURES}/make_fixtures.py"))
        .arg(dir.path());
    if let Some(bait) = bait {
        cmd.arg("--marker").arg(&bait.marker);
        cmd.args(["--port", &bait.port.to_string()]);
    }
    let out = cmd.output().expect("python3 builds the fixtures");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("test fixture");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("test fixture");
    let url = format!("http://{}", listener.local_addr().expect("test fixture"));
    let app = index_app(&url, &meta, dir.path().to_owned());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("test fixture") });
    Index { url, _dir: dir }
}

fn index_app(base: &str, meta: &Value, files: PathBuf) -> Router {
    let projects: Vec<(String, Value)> = [
        ("pythonhello", "wheel"),
        ("pyevil", "sdist"),
        ("slowhello", "slow_wheel"),
    ]
    .iter()
    .filter(|(_, key)| !meta[*key].is_null())
    .map(|(name, key)| (name.to_string(), meta[*key].clone()))
    .collect();
    let simple = move |UrlPath(name): UrlPath<String>| {
        let found = projects.iter().find(|(n, _)| *n == name).cloned();
        async move {
            let Some((_, dist)) = found else {
                return (
                    StatusCode::NOT_FOUND,
                    [(header::CONTENT_TYPE, "text/html")],
                    String::new(),
                );
            };
            let (file, sha) = (
                dist["file"].as_str().unwrap(),
                dist["sha256"].as_str().unwrap(),
            );
            let html = format!("<!DOCTYPE html><html><body><a href=\"/files/{file}#sha256={sha}\">{file}</a></body></html>");
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], html)
        }
    };
    let (base, meta) = (base.to_string(), meta.clone());
    let packument = move |UrlPath(name): UrlPath<String>| {
        let doc = packument_of(&base, &meta, &name);
        async move {
            match doc {
                Some(doc) => (StatusCode::OK, axum::Json(doc)),
                None => (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"error": "not found"})),
                ),
            }
        }
    };
    let serve_file = move |UrlPath(file): UrlPath<String>| {
        let path = files.join(file.replace('/', ""));
        async move {
            if file.starts_with("slowhello") {
                // A download that takes a while: a build that waits on it is a long build.
                tokio::time::sleep(SLOW_DOWNLOAD).await;
            }
            match std::fs::read(path) {
                Ok(bytes) => (StatusCode::OK, bytes),
                Err(_) => (StatusCode::NOT_FOUND, Vec::new()),
            }
        }
    };
    Router::new()
        .route("/simple/{name}/", get(simple))
        .route("/npm/{name}", get(packument))
        .route("/files/{file}", get(serve_file))
}

/// The npm registry document of `jshello` or `jsevil` (with its install script).
fn packument_of(base: &str, meta: &Value, name: &str) -> Option<Value> {
    let (tgz, scripts) = match name {
        "jshello" => (&meta["tarball"], json!({})),
        "jsevil" if !meta["evil_tarball"].is_null() => {
            (&meta["evil_tarball"], json!({"install": "node install.js"}))
        }
        _ => return None,
    };
    let file = tgz["file"].as_str()?;
    Some(
        json!({"name": name, "dist-tags": {"latest": "1.0.0"}, "versions": {"1.0.0": {
        "name": name, "version": "1.0.0", "main": "index.js", "scripts": scripts,
        "dist": {"tarball": format!("{base}/files/{file}"), "shasum": tgz["sha1"], "integrity": tgz["integrity"]}}}}),
    )
}

/// Builder settings for a data directory and an index.
pub fn config(root_dir: &Path, index: &Index) -> PackageConfig {
    let mut cfg = PackageConfig::new(root_dir, "/usr/bin/python3");
    cfg.pypi_index_url = Some(format!("{}/simple/", index.url));
    cfg.npm_registry = Some(format!("{}/npm/", index.url));
    cfg.build_timeout = Duration::from_secs(120);
    cfg
}

/// A launcher on this workspace's runner with the host's interpreters.
pub async fn launcher() -> Launcher {
    let runtimes = Runtimes::detect(&RuntimeConfig {
        python: Some("/usr/bin/python3".into()),
        node: None,
    })
    .await;
    let mut cfg = LauncherConfig::new(runtimes);
    cfg.runner_path = Some(crate::support::runner_path());
    Launcher::new(cfg).expect("test fixture")
}

/// A manager whose builds run in the real build sandbox (proxy sockets next to the data).
pub async fn build_manager(cfg: PackageConfig) -> PackageManager {
    let sockets = cfg.root.parent().expect("data dir").join("sock");
    let api: SocketAddr = "127.0.0.1:1".parse().expect("test fixture");
    let sandbox =
        BuildSandbox::new(launcher().await, sockets, String::new(), api).expect("test fixture");
    PackageManager::new(cfg, sandbox).expect("test fixture")
}

pub async fn store(dir: &Path) -> Arc<dyn Store> {
    pyth_on_store::connect(&format!("sqlite://{}/t.db?mode=rwc", dir.display()))
        .await
        .expect("test fixture")
}

pub fn py(raw: &[&str]) -> Vec<PackageSpec> {
    raw.iter()
        .map(|r| PackageSpec::parse(Language::Python, r).expect("test fixture"))
        .collect()
}

/// Runs `code` with the host's Python and `site` on its path; its trimmed stdout.
pub fn run_python(site: &Path, code: &str) -> String {
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", code])
        .env("PYTHONPATH", site)
        .output()
        .expect("test fixture");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
