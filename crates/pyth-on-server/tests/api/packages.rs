//! Packages: the routes (owner-scoped, audited, every refused spec form) and the environment
//! builder, against a loopback PEP 503 index and npm registry serving packages the test builds.

use std::path::PathBuf;
use std::time::Duration;

use pyth_on_server::domain::Language;
use pyth_on_server::packages::{PackageConfig, PackageError, PackageManager, PackageSpec};
use serde_json::{json, Value};

use crate::package_index::{build_manager, config, py, run_python, start_index, store, Index};
use crate::support;

#[tokio::test]
async fn five_concurrent_requests_for_one_set_build_it_once_and_later_ones_reuse_it() {
    // Arrange
    let (index, dir) = (start_index().await, tempfile::tempdir().unwrap());
    let store = store(dir.path()).await;
    let manager = build_manager(config(dir.path(), &index)).await;
    let specs = py(&["pythonhello"]);
    // Act
    let results = futures::future::join_all(
        (0..5).map(|_| manager.ensure(store.as_ref(), Language::Python, &specs)),
    )
    .await;
    // Assert
    let mounts: Vec<_> = results.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert!(mounts.iter().all(|m| m == &mounts[0]));
    assert_eq!(manager.builds_started(), 1);
    let again = manager
        .ensure(store.as_ref(), Language::Python, &specs)
        .await
        .unwrap();
    assert_eq!(again.as_ref(), Some(&mounts[0]));
    assert_eq!(manager.builds_started(), 1);
    let site = mounts[0].host_path.join("site-packages");
    assert_eq!(
        run_python(&site, "import pythonhello; print(pythonhello.GREETING)"),
        "hello from pythonhello 1.0"
    );
    assert_eq!(mounts[0].sandbox_path, PathBuf::from("/pkg/python"));
    assert!(manager
        .ensure(store.as_ref(), Language::Python, &[])
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_built_environment_is_root_owned_and_read_only_to_the_build_user() {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let (index, dir) = (start_index().await, tempfile::tempdir().unwrap());
    let store = store(dir.path()).await;
    let manager = build_manager(config(dir.path(), &index)).await;
    let mount = manager
        .ensure(store.as_ref(), Language::Python, &py(&["pythonhello"]))
        .await
        .unwrap()
        .unwrap();
    let init = mount
        .host_path
        .join("site-packages/pythonhello/__init__.py");
    let (env_meta, file_meta) = (
        mount.host_path.metadata().unwrap(),
        init.metadata().unwrap(),
    );
    assert_eq!(env_meta.mode() & 0o777, 0o755);
    assert_eq!(file_meta.mode() & 0o777, 0o644);
    assert_eq!(
        dir.path().join("envs").metadata().unwrap().mode() & 0o777,
        0o711
    );
    assert!(nix::unistd::geteuid().is_root(), "run the tests as root");
    assert_eq!((env_meta.uid(), file_meta.uid()), (0, 0));
    let status = std::process::Command::new("/bin/sh")
        .args(["-c", "echo x >> \"$1\" || exit 3; exit 0", "sh"])
        .arg(&init)
        .uid(65534)
        .gid(65534)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(3),
        "nobody could write into the environment"
    );
}

#[tokio::test]
async fn an_install_failure_is_kept_with_the_installers_message_and_leaves_nothing_behind() {
    let (index, dir) = (start_index().await, tempfile::tempdir().unwrap());
    let store = store(dir.path()).await;
    let manager = build_manager(config(dir.path(), &index)).await;
    let specs = py(&["no-such-package-here"]);
    let err = manager
        .ensure(store.as_ref(), Language::Python, &specs)
        .await
        .unwrap_err();
    let PackageError::InstallFailed { message, packages } = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("no-such-package-here"), "{message}");
    assert_eq!(packages, &["no-such-package-here"]);
    // The failure answers again without a rebuild, until the set changes.
    let again = manager
        .ensure(store.as_ref(), Language::Python, &specs)
        .await
        .unwrap_err();
    assert_eq!(again.to_string(), err.to_string());
    assert_eq!(manager.builds_started(), 1);
    let key = manager.env_key(Language::Python, &specs).await.unwrap();
    assert!(!dir.path().join("envs").join(&key).exists());
    let leftovers = std::fs::read_dir(dir.path().join("builds"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "the build's work directory is removed");
    let api: pyth_on_server::error::ApiError = err.into();
    assert_eq!(
        (api.status_code().as_u16(), api.code()),
        (422, "package_install_failed")
    );
}

#[tokio::test]
async fn a_failed_set_is_retried_once_its_cool_down_has_passed() {
    let (index, dir) = (start_index().await, tempfile::tempdir().unwrap());
    let store = store(dir.path()).await;
    let mut cfg = config(dir.path(), &index);
    cfg.failed_retry_after = Duration::ZERO;
    let manager = build_manager(cfg).await;
    let specs = py(&["no-such-package-here"]);
    assert!(manager
        .ensure(store.as_ref(), Language::Python, &specs)
        .await
        .is_err());
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(manager
        .ensure(store.as_ref(), Language::Python, &specs)
        .await
        .is_err());
    assert_eq!(manager.builds_started(), 2);
}

#[tokio::test]
async fn builds_over_the_size_or_time_bound_are_refused() {
    let (index, dir) = (start_index().await, tempfile::tempdir().unwrap());
    let store = store(dir.path()).await;
    let mut cfg = config(dir.path(), &index);
    cfg.max_env_bytes = 10;
    let manager = build_manager(cfg).await;
    let err = manager
        .ensure(store.as_ref(), Language::Python, &py(&["pythonhello"]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("over the"), "{err}");
    let mut cfg = config(dir.path(), &index);
    cfg.build_timeout = Duration::from_millis(50);
    let manager = build_manager(cfg).await;
    let err = manager
        .ensure(store.as_ref(), Language::Python, &py(&["pythonhello==1.0"]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("longer than"), "{err}");
}

#[tokio::test]
async fn javascript_packages_install_from_the_registry() {
    let (index, dir) = (start_index().await, tempfile::tempdir().unwrap());
    let store = store(dir.path()).await;
    let manager = build_manager(config(dir.path(), &index)).await;
    if manager.config().node_npm.is_none() {
        eprintln!("npm not found; skipping");
        return;
    }
    let specs = vec![PackageSpec::parse(Language::Javascript, "jshello@^1").unwrap()];
    let mount = manager
        .ensure(store.as_ref(), Language::Javascript, &specs)
        .await
        .unwrap()
        .unwrap();
    let modules = mount.host_path.join("node_modules");
    let out = std::process::Command::new("node")
        .args(["-e", "console.log(require('jshello').greeting)"])
        .env("NODE_PATH", &modules)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello from jshello 1.0.0",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        mount.env,
        vec![(
            "NODE_PATH".to_string(),
            "/pkg/node/node_modules".to_string()
        )]
    );
}

#[tokio::test]
async fn gc_removes_environments_by_age_and_then_by_total_size() {
    let (index, dir) = (start_index().await, tempfile::tempdir().unwrap());
    let store = store(dir.path()).await;
    let manager = build_manager(config(dir.path(), &index)).await;
    let old = manager
        .ensure(store.as_ref(), Language::Python, &py(&["pythonhello"]))
        .await
        .unwrap()
        .unwrap();
    let new = manager
        .ensure(store.as_ref(), Language::Python, &py(&["pythonhello==1.0"]))
        .await
        .unwrap()
        .unwrap();
    // Nothing is old or over the bound yet.
    assert!(manager.gc(store.as_ref()).await.unwrap().deleted.is_empty());
    // By size: only the least recently used goes.
    let size = store
        .get_package_env(&new.key)
        .await
        .unwrap()
        .unwrap()
        .size_bytes as u64;
    let mut cfg = config(dir.path(), &index);
    cfg.gc_max_total_bytes = size + 1;
    let sized = build_manager(cfg).await;
    assert_eq!(
        sized.gc(store.as_ref()).await.unwrap().deleted,
        vec![old.key.clone()]
    );
    assert!(!old.host_path.exists() && new.host_path.exists());
    // By age.
    let mut cfg = config(dir.path(), &index);
    cfg.gc_max_age = Duration::ZERO;
    let aged = build_manager(cfg).await;
    assert_eq!(
        aged.gc(store.as_ref()).await.unwrap().deleted,
        vec![new.key.clone()]
    );
    assert!(!new.host_path.exists());
    assert!(store.list_package_envs().await.unwrap().is_empty());
}

/// The real registries, through the build sandbox's proxy (and this machine's TLS-inspecting
/// proxy, whose CA the system store holds): PyPI with uv or pip, npm.
#[tokio::test]
async fn real_packages_install_from_the_public_pypi_and_npm_registries() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    let manager = build_manager(PackageConfig::new(dir.path(), "/usr/bin/python3")).await;
    let mount = manager
        .ensure(store.as_ref(), Language::Python, &py(&["six==1.16.0"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        run_python(
            &mount.host_path.join("site-packages"),
            "import six; print(six.__version__)"
        ),
        "1.16.0"
    );
    let js = [PackageSpec::parse(Language::Javascript, "is-number@7.0.0").unwrap()];
    let mount = manager
        .ensure(store.as_ref(), Language::Javascript, &js)
        .await
        .unwrap()
        .unwrap();
    let out = std::process::Command::new("node")
        .args(["-e", "console.log(require('is-number')(5))"])
        .env("NODE_PATH", mount.host_path.join("node_modules"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
}

/// The whole app on a loopback port, with its [`PackageManager`] at hand.
struct PkgServer {
    base: String,
    http: reqwest::Client,
    client: pyth_on_client::Client,
    manager: PackageManager,
    _dir: tempfile::TempDir,
}

struct PkgUser {
    key: String,
    client: pyth_on_client::Client,
}

impl PkgServer {
    async fn start(index: &Index) -> Self {
        let dir = tempfile::tempdir().expect("test fixture");
        let mut settings = support::settings(dir.path());
        settings.packages.pypi_index_url = Some(format!("{}/simple/", index.url));
        settings.packages.npm_registry = Some(format!("{}/npm/", index.url));
        let state = pyth_on_server::build_state(settings)
            .await
            .expect("test fixture");
        let manager = state.packages().cloned().expect("packages enabled");
        let app = pyth_on_server::routes::router(state).expect("test fixture");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("test fixture");
        let base = format!("http://{}", listener.local_addr().expect("test fixture"));
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .expect("test fixture")
        });
        let client = pyth_on_client::Client::new(&base).expect("test fixture");
        Self {
            base,
            http: reqwest::Client::new(),
            client,
            manager,
            _dir: dir,
        }
    }

    async fn user(&self) -> PkgUser {
        let email = format!("pkg-{}@example.com", uuid::Uuid::now_v7().simple());
        let auth = self
            .client
            .register(&email, "correct horse battery staple")
            .await
            .expect("test fixture");
        let key = auth.api_key.expect("test fixture");
        PkgUser {
            client: self.client.with_api_key(key.clone()),
            key,
        }
    }

    async fn call(
        &self,
        user: &PkgUser,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-api-key", &user.key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("test fixture");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("test fixture");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn wait_ready(&self, user: &PkgUser, language: &str) -> Value {
        for _ in 0..600 {
            let (_, list) = self
                .call(user, reqwest::Method::GET, "/api/v1/packages", None)
                .await;
            let status = list["environments"][language]["status"].clone();
            if status != "building" && status != "none" {
                return list["environments"][language].clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the environment never finished building");
    }
}

use reqwest::Method;

#[tokio::test]
async fn packages_can_be_set_added_replaced_listed_and_removed() {
    let index = start_index().await;
    let server = PkgServer::start(&index).await;
    let user = server.user().await;
    // Set.
    let (status, body) = server
        .call(
            &user,
            Method::PUT,
            "/api/v1/packages",
            Some(json!({"packages": ["PythonHello"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let specs: Vec<&str> = body["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["spec"].as_str().unwrap())
        .collect();
    assert_eq!(specs, ["pythonhello"]);
    assert_eq!(body["environments"]["python"]["status"], "ready", "{body}");
    assert_eq!(body["packages"][0]["language"], "python");
    assert!(body["packages"][0]["addedAt"].is_string());
    // Add (201), replace (200).
    let (status, body) = server
        .call(
            &user,
            Method::POST,
            "/api/v1/packages",
            Some(json!({"package": "jshello@^1", "language": "js"})),
        )
        .await;
    assert_eq!(
        (status, body["name"].as_str()),
        (201, Some("jshello")),
        "{body}"
    );
    let (status, body) = server
        .call(
            &user,
            Method::POST,
            "/api/v1/packages",
            Some(json!({"package": "pythonhello==1.0"})),
        )
        .await;
    assert_eq!(
        (status, body["spec"].as_str()),
        (200, Some("pythonhello==1.0")),
        "{body}"
    );
    // List.
    let (status, list) = server
        .call(&user, Method::GET, "/api/v1/packages", None)
        .await;
    assert_eq!(status, 200);
    let all: Vec<(&str, &str)> = list["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["language"].as_str().unwrap(), p["spec"].as_str().unwrap()))
        .collect();
    assert_eq!(
        all,
        [("javascript", "jshello@^1"), ("python", "pythonhello==1.0")]
    );
    // Remove.
    let (status, _) = server
        .call(&user, Method::DELETE, "/api/v1/packages/PythonHello", None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .call(
            &user,
            Method::DELETE,
            "/api/v1/packages/jshello?language=javascript",
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, list) = server
        .call(&user, Method::GET, "/api/v1/packages", None)
        .await;
    assert!(list["packages"].as_array().unwrap().is_empty());
    assert_eq!(list["environments"]["python"]["status"], "none");
    assert_eq!(list["environments"]["javascript"]["status"], "none");
    // Audited.
    let page = user.client.audit(Some(20), None, None).await.unwrap();
    let actions: Vec<&str> = page.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        &actions[..5],
        [
            "package.remove",
            "package.remove",
            "package.add",
            "package.add",
            "package.set"
        ]
    );
}

#[tokio::test]
async fn every_dangerous_spec_form_is_refused_with_its_name() {
    let index = start_index().await;
    let server = PkgServer::start(&index).await;
    let user = server.user().await;
    let python = [
        "pkg @ https://evil.example/pkg.whl",
        "https://evil.example/x.whl",
        "git+https://github.com/x/y",
        "./local",
        "/abs/path",
        "-r requirements.txt",
        "--index-url http://evil",
        "--index-url=http://evil",
        "pkg; python_version < '4'",
        "pkg[a,b,c,d,e,f]",
        "-e .",
        "",
    ];
    for spec in python {
        for (method, body) in [
            (Method::PUT, json!({"packages": [spec]})),
            (Method::POST, json!({"package": spec})),
        ] {
            let (status, body) = server
                .call(&user, method, "/api/v1/packages", Some(body))
                .await;
            assert_eq!(
                (status, body["code"].as_str()),
                (400, Some("invalid_package")),
                "{spec:?}: {body}"
            );
            assert_eq!(body["details"]["package"], spec, "{body}");
            assert!(body["error"].as_str().unwrap().contains(spec));
        }
    }
    let js = [
        "git+https://github.com/x/y.git",
        "github:user/repo",
        "user/repo",
        "file:../x",
        "link:../x",
        "npm:lodash@4",
        "alias@npm:lodash",
        "../x",
        "x.tgz",
        "--registry=http://evil",
        "lodash@next",
    ];
    for spec in js {
        let (status, body) = server
            .call(
                &user,
                Method::POST,
                "/api/v1/packages",
                Some(json!({"package": spec, "language": "javascript"})),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_package")),
            "{spec:?}: {body}"
        );
    }
    let (_, list) = server
        .call(&user, Method::GET, "/api/v1/packages", None)
        .await;
    assert!(list["packages"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn lists_are_bounded_unique_and_private_to_their_owner() {
    let index = start_index().await;
    let server = PkgServer::start(&index).await;
    let (ada, bob) = (server.user().await, server.user().await);
    let many: Vec<String> = (0..51).map(|i| format!("pkg{i}")).collect();
    let (status, body) = server
        .call(
            &ada,
            Method::PUT,
            "/api/v1/packages",
            Some(json!({"packages": many})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("too_many_packages"))
    );
    let (status, body) = server
        .call(
            &ada,
            Method::PUT,
            "/api/v1/packages",
            Some(json!({"packages": ["a_b", "A.B==1"]})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("duplicate_package"))
    );
    let (status, body) = server
        .call(
            &ada,
            Method::PUT,
            "/api/v1/packages",
            Some(json!({"packages": ["six"], "language": "cobol"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("unsupported_language"))
    );
    let (status, _) = server
        .call(
            &ada,
            Method::PUT,
            "/api/v1/packages",
            Some(json!({"packages": ["six"], "extra": 1})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = server
        .call(
            &ada,
            Method::PUT,
            "/api/v1/packages",
            Some(json!({"packages": ["pythonhello"]})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = server
        .call(&bob, Method::GET, "/api/v1/packages", None)
        .await;
    assert!(list["packages"].as_array().unwrap().is_empty(), "{list}");
    let (status, body) = server
        .call(&bob, Method::DELETE, "/api/v1/packages/pythonhello", None)
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, _) = server
        .call(&ada, Method::DELETE, "/api/v1/packages/..%2Fx", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn two_users_with_the_same_list_share_one_environment_built_once() {
    let index = start_index().await;
    let server = PkgServer::start(&index).await;
    let (ada, bob) = (server.user().await, server.user().await);
    let body = json!({"packages": ["pythonhello"]});
    let (a, b) = tokio::join!(
        server.call(&ada, Method::PUT, "/api/v1/packages", Some(body.clone())),
        server.call(&bob, Method::PUT, "/api/v1/packages", Some(body.clone())),
    );
    assert_eq!((a.0, b.0), (200, 200));
    assert_eq!(server.wait_ready(&ada, "python").await["status"], "ready");
    assert_eq!(server.wait_ready(&bob, "python").await["status"], "ready");
    assert_eq!(server.manager.builds_started(), 1);
}

#[tokio::test]
async fn a_package_that_cannot_be_installed_is_refused_and_the_list_is_unchanged() {
    let index = start_index().await;
    let server = PkgServer::start(&index).await;
    let user = server.user().await;
    let put = json!({"packages": ["pythonhello"]});
    let (status, _) = server
        .call(&user, Method::PUT, "/api/v1/packages", Some(put))
        .await;
    assert_eq!(status, 200);
    for (method, body) in [
        (Method::POST, json!({"package": "no-such-package-here"})),
        (
            Method::PUT,
            json!({"packages": ["pythonhello", "no-such-package-here"]}),
        ),
    ] {
        let (status, err) = server
            .call(&user, method.clone(), "/api/v1/packages", Some(body))
            .await;
        assert_eq!(
            (status, err["code"].as_str()),
            (422, Some("package_install_failed")),
            "{err}"
        );
        assert_eq!(
            err["details"]["packages"],
            json!(["no-such-package-here"]),
            "{err}"
        );
        let log = err["details"]["log"].as_str().unwrap();
        assert!(log.contains("no-such-package-here"), "{log}");
        for host_path in [server._dir.path().to_str().unwrap(), "/tmp/", "/run/"] {
            assert!(!log.contains(host_path), "{method}: a host path in {log}");
        }
    }
    let (_, list) = server
        .call(&user, Method::GET, "/api/v1/packages", None)
        .await;
    let specs: Vec<&str> = list["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["spec"].as_str().unwrap())
        .collect();
    assert_eq!(specs, ["pythonhello"], "the stored list is left as it was");
    assert_eq!(list["environments"]["python"]["status"], "ready");
    let run = pyth_on_types::ExecuteRequest {
        code: "import pythonhello; print(pythonhello.GREETING)".into(),
        ..Default::default()
    };
    let result = user.client.execute(&run).await.unwrap();
    assert_eq!(
        result.output.trim(),
        "hello from pythonhello 1.0",
        "{result:?}"
    );
    let page = user.client.audit(Some(5), None, None).await.unwrap();
    let failed: Vec<(&str, &str)> = page
        .entries
        .iter()
        .filter(|e| e.outcome == "failure")
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        failed,
        [("package.set", "failure"), ("package.add", "failure")]
    );
}

#[tokio::test]
async fn a_persistent_package_is_importable_in_the_next_run_and_gone_after_removal() {
    let index = start_index().await;
    let server = PkgServer::start(&index).await;
    let user = server.user().await;
    server
        .call(
            &user,
            Method::PUT,
            "/api/v1/packages",
            Some(json!({"packages": ["pythonhello"]})),
        )
        .await;
    server.wait_ready(&user, "python").await;
    let run = |code: &str| pyth_on_types::ExecuteRequest {
        code: code.to_string(),
        ..Default::default()
    };
    let result = user
        .client
        .execute(&run("import pythonhello; print(pythonhello.GREETING)"))
        .await
        .unwrap();
    assert_eq!(result.output.trim(), "hello from pythonhello 1.0");
    let result = user
        .client
        .execute(&run("open('/pkg/python/site-packages/x', 'w')"))
        .await
        .unwrap();
    assert_ne!(
        result.exit_code, 0,
        "a run cannot write into an environment"
    );
    server
        .call(&user, Method::DELETE, "/api/v1/packages/pythonhello", None)
        .await;
    let result = user
        .client
        .execute(&run("import pythonhello"))
        .await
        .unwrap();
    assert!(result.error.contains("ModuleNotFoundError"));
}

#[tokio::test]
async fn per_run_packages_are_importable_in_that_run_and_do_not_persist() {
    // Arrange
    let index = start_index().await;
    let server = PkgServer::start(&index).await;
    let user = server.user().await;
    let request = |code: &str, packages: Option<Vec<String>>| pyth_on_types::ExecuteRequest {
        code: code.to_string(),
        packages,
        ..Default::default()
    };
    // Act
    let with = user
        .client
        .execute(&request(
            "import pythonhello; print(pythonhello.GREETING)",
            Some(vec!["pythonhello".into()]),
        ))
        .await
        .unwrap();
    let without = user
        .client
        .execute(&request("import pythonhello", None))
        .await
        .unwrap();
    // Assert
    assert_eq!(with.output.trim(), "hello from pythonhello 1.0", "{with:?}");
    assert!(without.error.contains("ModuleNotFoundError"), "{without:?}");
    let (_, list) = server
        .call(&user, Method::GET, "/api/v1/packages", None)
        .await;
    assert!(list["packages"].as_array().unwrap().is_empty());
    let refused = user
        .client
        .execute(&request("print(1)", Some(vec!["git+https://x/y".into()])))
        .await;
    let body = crate::support::assert_api_error(refused, 400, "invalid_package");
    assert_eq!(body.details.unwrap()["package"], "git+https://x/y");
}

#[tokio::test]
#[ignore = "measurement: prints build, cache and run-latency figures (--nocapture)"]
async fn package_environment_costs_are_measured() {
    use std::time::Instant;
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let index = start_index().await;
    let server = PkgServer::start(&index).await;
    let specs = py(&["pythonhello"]);
    let store_dir = tempfile::tempdir().unwrap();
    let store = store(store_dir.path()).await;
    let manager = build_manager(config(store_dir.path(), &index)).await;
    let started = Instant::now();
    manager
        .ensure(store.as_ref(), Language::Python, &specs)
        .await
        .unwrap();
    let first = started.elapsed();
    let mut cached_runs = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        manager
            .ensure(store.as_ref(), Language::Python, &specs)
            .await
            .unwrap();
        cached_runs.push(t.elapsed());
    }
    let (with, without) = (server.user().await, server.user().await);
    server
        .call(
            &with,
            Method::PUT,
            "/api/v1/packages",
            Some(json!({"packages": ["pythonhello"]})),
        )
        .await;
    server.wait_ready(&with, "python").await;
    let mut timings = [Vec::new(), Vec::new()];
    for _ in 0..20 {
        for (i, user) in [&with, &without].into_iter().enumerate() {
            let request = pyth_on_types::ExecuteRequest {
                code: "print(1)".into(),
                ..Default::default()
            };
            let t = Instant::now();
            user.client.execute(&request).await.unwrap();
            timings[i].push(t.elapsed());
        }
    }
    let [mounted, plain] = timings.map(median);
    eprintln!(
        "first build (pip, loopback index, 1 wheel): {first:?}\ncached ensure (median of 20): {:?}\nrun print(1) with a mounted env: {mounted:?}; without: {plain:?}",
        median(cached_runs)
    );
}
