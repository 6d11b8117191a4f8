//! [`PackageManager`]: resolves a set of specs to a content-addressed environment, building it
//! once (per key, across concurrent requests and nodes) and handing back how to mount it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared};
use pyth_on_store::{Store, StoreError, PACKAGE_ENV_FAILED, PACKAGE_ENV_READY};
use time::OffsetDateTime;
use uuid::Uuid;

pub use super::config::{find_on_path, PackageConfig, BUILD_IDS};
pub use super::key::env_key;
use super::queue::{BuildQueue, Full, Ticket};
use super::sandbox::BuildSandbox;
use super::{build, PackageError, PackageSpec};
use crate::domain::Language;

/// How a run sees an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvMount {
    /// The content-addressed key (hex SHA-256).
    pub key: String,
    /// The built environment on the host, root-owned and read-only to runs.
    pub host_path: PathBuf,
    /// Where to bind-mount it read-only inside the sandbox.
    pub sandbox_path: PathBuf,
    /// Variables for the run (`PYTHONPATH` or `NODE_PATH`).
    pub env: Vec<(String, String)>,
}

type BuildFuture = Shared<BoxFuture<'static, Result<u64, String>>>;

/// Builds and hands out package environments. Cheap to clone.
#[derive(Clone)]
pub struct PackageManager(Arc<Inner>);

struct Inner {
    cfg: Arc<PackageConfig>,
    sandbox: BuildSandbox,
    queue: BuildQueue,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    builds: Mutex<HashMap<String, BuildFuture>>,
    python_version: tokio::sync::OnceCell<Result<String, String>>,
    node_version: tokio::sync::OnceCell<Result<String, String>>,
    builds_started: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for PackageManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackageManager")
            .field("root", &self.0.cfg.root)
            .finish_non_exhaustive()
    }
}

impl PackageManager {
    /// Creates the environments directory (0711), the build directory (0700) and the
    /// manager, whose builds run in `sandbox`.
    pub fn new(cfg: PackageConfig, sandbox: BuildSandbox) -> Result<Self, PackageError> {
        build::prepare_root(&cfg.root)?;
        build::prepare_build_dir(&cfg.build_dir)?;
        Ok(Self(Arc::new(Inner {
            queue: BuildQueue::new(
                cfg.max_concurrent_builds,
                cfg.max_queued_builds,
                cfg.max_queued_builds_per_user,
            ),
            sandbox,
            cfg: Arc::new(cfg),
            locks: Mutex::default(),
            builds: Mutex::default(),
            python_version: tokio::sync::OnceCell::new(),
            node_version: tokio::sync::OnceCell::new(),
            builds_started: 0.into(),
        })))
    }

    /// The configuration.
    pub fn config(&self) -> &PackageConfig {
        &self.0.cfg
    }

    /// How many builds this manager has started (for tests and metrics).
    pub fn builds_started(&self) -> u64 {
        self.0
            .builds_started
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The environment key of a set: hex SHA-256 of the language, the interpreter version, the
    /// index URL and the sorted canonical specs.
    pub async fn env_key(
        &self,
        language: Language,
        specs: &[PackageSpec],
    ) -> Result<String, PackageError> {
        let version = self.runtime_version(language).await?;
        let index = match language {
            Language::Python => self.0.cfg.pypi_index_url.as_deref(),
            Language::Javascript => self.0.cfg.npm_registry.as_deref(),
        };
        Ok(env_key(language, &version, index, specs))
    }

    async fn runtime_version(&self, language: Language) -> Result<String, PackageError> {
        let cfg = &self.0.cfg;
        let result = match language {
            Language::Python => {
                self.0
                    .python_version
                    .get_or_init(|| build::python_version(&cfg.python))
                    .await
            }
            Language::Javascript => {
                self.0
                    .node_version
                    .get_or_init(|| build::node_version(cfg.node_npm.as_deref()))
                    .await
            }
        };
        result.clone().map_err(|reason| PackageError::Unavailable {
            language: language.as_str(),
            reason,
        })
    }

    /// The mount of `key` for `language`.
    pub fn mount(&self, language: Language, key: &str) -> EnvMount {
        env_mount(&self.0.cfg.root, language, key)
    }

    /// `None` for an empty set; else the environment of `specs`, built now if needed (waiting
    /// for a build in progress here or on another node). A failed set answers
    /// [`PackageError::InstallFailed`] with the installer's message until the set changes;
    /// a full build queue answers [`PackageError::BuildsBusy`] and records nothing.
    pub async fn ensure(
        &self,
        store: &dyn Store,
        language: Language,
        specs: &[PackageSpec],
    ) -> Result<Option<EnvMount>, PackageError> {
        self.ensure_for(Uuid::nil(), store, language, specs).await
    }

    /// [`PackageManager::ensure`] for `requester`: a build it starts takes turns with other
    /// users' builds in the node's build queue.
    pub async fn ensure_for(
        &self,
        requester: Uuid,
        store: &dyn Store,
        language: Language,
        specs: &[PackageSpec],
    ) -> Result<Option<EnvMount>, PackageError> {
        if specs.is_empty() {
            return Ok(None);
        }
        let key = self.env_key(language, specs).await?;
        let lock = self.lock_for(&key);
        let _guard = lock.lock().await;
        let set = BuildSet {
            key: &key,
            language,
            specs,
            requester,
        };
        self.settle(store, &set)
            .await
            .map_err(|e| e.naming(specs))?;
        Ok(Some(self.mount(language, &key)))
    }

    /// Loops until the set's row is ready (then records a use) or its failure is the answer.
    async fn settle(&self, store: &dyn Store, set: &BuildSet<'_>) -> Result<(), PackageError> {
        let key = set.key;
        let stale_ms = i64::try_from(self.stale_after().as_millis()).unwrap_or(i64::MAX);
        let mut waited = Duration::ZERO;
        // One build (or retry) per call: a failure we just recorded is the answer.
        let mut attempted = false;
        loop {
            match store.get_package_env(key).await? {
                Some(row) if row.status == PACKAGE_ENV_READY => {
                    if !self.0.cfg.root.join(key).is_dir() {
                        // Built on another node, or its files were lost: build it here.
                        let ticket = self.ticket(set.requester)?;
                        let result = self.start_build(set, ticket).await;
                        self.forget_build(key);
                        result.map_err(PackageError::install_failed)?;
                    }
                    // A use is recorded at most once a minute: runs need no write per run.
                    if now() - row.last_used_at > time::Duration::minutes(1) {
                        store.touch_package_env(key, now()).await?;
                    }
                    return Ok(());
                }
                Some(row) if row.status == PACKAGE_ENV_FAILED => {
                    let retry = time::Duration::try_from(self.0.cfg.failed_retry_after)
                        .unwrap_or(time::Duration::MAX);
                    if !attempted && now() - row.updated_at > retry {
                        // A cool-down has passed: let one caller (on any node) try again.
                        store.delete_package_env(key).await?;
                        attempted = true;
                        continue;
                    }
                    let message = row.error.unwrap_or_else(|| "unknown error".into());
                    return Err(PackageError::install_failed(message));
                }
                Some(_building) => {
                    if let Some(build) = self.running_build(key) {
                        // Ours, left by a caller that went away: finish it.
                        self.record(store, key, build.await).await?;
                        attempted = true;
                        continue;
                    }
                    if self.claim_and_build(store, set, stale_ms).await? {
                        attempted = true;
                        continue;
                    }
                    // Another node builds it.
                    if waited > self.stale_after() * 2 {
                        return Err(PackageError::install_failed(
                            "timed out waiting for another node's build",
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    waited += Duration::from_millis(250);
                }
                None => attempted |= self.claim_and_build(store, set, stale_ms).await?,
            }
        }
    }

    /// Claims the set's build (a new row, or a stale one) and builds it here; `false` when
    /// another node holds the claim. A full queue is refused before claiming.
    async fn claim_and_build(
        &self,
        store: &dyn Store,
        set: &BuildSet<'_>,
        stale_ms: i64,
    ) -> Result<bool, PackageError> {
        let ticket = self.ticket(set.requester)?;
        let claimed = store
            .claim_package_env_build(set.key, set.language.as_str(), now(), stale_ms)
            .await?;
        if claimed {
            let result = self.start_build(set, ticket).await;
            self.record(store, set.key, result).await?;
        }
        Ok(claimed)
    }

    fn ticket(&self, requester: Uuid) -> Result<Ticket, PackageError> {
        self.0.queue.enter(requester).map_err(|full| match full {
            Full::Node => PackageError::BuildsBusy {
                max: self.0.cfg.max_queued_builds,
            },
            Full::User => PackageError::TooManyBuilds {
                max: self.0.cfg.max_queued_builds_per_user,
            },
        })
    }

    /// A build row older than this is presumed dead.
    pub(crate) fn stale_after(&self) -> Duration {
        self.0.cfg.build_timeout + Duration::from_secs(60)
    }

    async fn record(
        &self,
        store: &dyn Store,
        key: &str,
        result: Result<u64, String>,
    ) -> Result<(), PackageError> {
        let (status, error, size) = match &result {
            Ok(size) => (PACKAGE_ENV_READY, None, *size),
            Err(message) => (PACKAGE_ENV_FAILED, Some(message.as_str()), 0),
        };
        if let Err(message) = &result {
            tracing::warn!(env_key = key, %message, "package environment build failed");
        } else {
            tracing::info!(
                env_key = key,
                size_bytes = size,
                "package environment built"
            );
        }
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        match store
            .finish_package_env(key, status, error, size, now())
            .await
        {
            // Deleted while building: the next round claims it again.
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(err) => return Err(err.into()),
        }
        self.forget_build(key);
        Ok(())
    }

    pub(crate) fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.0.locks.lock().expect("package lock map poisoned");
        locks.retain(|k, l| k == key || Arc::strong_count(l) > 1);
        Arc::clone(locks.entry(key.to_string()).or_default())
    }

    fn running_build(&self, key: &str) -> Option<BuildFuture> {
        let builds = self.0.builds.lock().expect("package build map poisoned");
        builds.get(key).cloned()
    }

    fn forget_build(&self, key: &str) {
        let mut builds = self.0.builds.lock().expect("package build map poisoned");
        builds.remove(key);
    }

    /// Starts the build in its own task (so it finishes even if the caller goes away); the
    /// task waits for a build slot with `ticket`, then runs the installer in a build sandbox.
    fn start_build(&self, set: &BuildSet<'_>, ticket: Ticket) -> BuildFuture {
        let cfg = Arc::clone(&self.0.cfg);
        let sandbox = self.0.sandbox.clone();
        let (key, language) = (set.key.to_string(), set.language);
        let specs: Vec<String> = set.specs.iter().map(|s| s.spec().to_string()).collect();
        self.0
            .builds_started
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let task = tokio::spawn(async move {
            let permit = ticket.slot().await.into_permit();
            build::build(cfg, sandbox, key, language, specs, permit).await
        });
        let future = async move {
            task.await
                .unwrap_or_else(|err| Err(format!("the build task failed: {err}")))
        }
        .boxed()
        .shared();
        let mut builds = self.0.builds.lock().expect("package build map poisoned");
        builds.insert(set.key.to_string(), future.clone());
        future
    }
}

/// How a run sees environment `key` of `language` kept under `root`.
pub fn env_mount(root: &Path, language: Language, key: &str) -> EnvMount {
    let (sandbox, var, sub) = match language {
        Language::Python => ("/pkg/python", "PYTHONPATH", "site-packages"),
        Language::Javascript => ("/pkg/node", "NODE_PATH", "node_modules"),
    };
    EnvMount {
        key: key.to_string(),
        host_path: root.join(key),
        sandbox_path: PathBuf::from(sandbox),
        env: vec![(var.to_string(), format!("{sandbox}/{sub}"))],
    }
}

/// One set to settle: its key, language, specs and who asked for it.
struct BuildSet<'a> {
    key: &'a str,
    language: Language,
    specs: &'a [PackageSpec],
    requester: Uuid,
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_point_the_runtime_at_the_environment() {
        let root = Path::new("/data/envs");
        let py = env_mount(root, Language::Python, "abc");
        assert_eq!(py.host_path, root.join("abc"));
        assert_eq!(py.sandbox_path, PathBuf::from("/pkg/python"));
        assert_eq!(
            py.env,
            vec![("PYTHONPATH".into(), "/pkg/python/site-packages".into())]
        );
        let js = env_mount(root, Language::Javascript, "abc");
        assert_eq!(
            js.env,
            vec![("NODE_PATH".into(), "/pkg/node/node_modules".into())]
        );
    }
}
