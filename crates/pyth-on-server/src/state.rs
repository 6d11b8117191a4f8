//! `AppState`: what every handler can reach: settings, store, keys, the sandbox launcher and
//! the run limiter. Cheap to clone.

use std::sync::Arc;
use std::time::Instant;

use pyth_on_crypto::{JwtKeys, Keyring};
use pyth_on_launcher::Launcher;
use pyth_on_store::Store;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::runs::RunLimiter;
use crate::settings::Settings;

/// The last sandbox self-test of the readiness check (`crate::health`): when, and `ok` or
/// why not.
#[derive(Debug, Default)]
pub struct SandboxProbe(pub tokio::sync::Mutex<Option<(Instant, String)>>);

/// Shared application state.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

struct Inner {
    settings: Settings,
    store: Arc<dyn Store>,
    jwt: JwtKeys,
    /// Swapped whole when the key directory changes (`keys rotate`/`retire` on any node).
    keyring: std::sync::RwLock<Arc<Keyring>>,
    launcher: Launcher,
    runs: RunLimiter,
    llm: Option<Arc<dyn pyth_on_llm::Provider>>,
    packages: Option<crate::packages::PackageManager>,
    egress: Option<crate::egress::Egress>,
    metrics: crate::metrics::Metrics,
    password_gate: Semaphore,
    password_pool: crate::password_pool::PasswordPool,
    started: Instant,
    sandbox_probe: SandboxProbe,
    cancels: crate::execution::live::Cancels,
    sessions: crate::sessions::registry::Registry,
    node: crate::sessions::node::NodeIdentity,
    key_owners: crate::key_owners::KeyOwners,
}

/// The parts [`AppState::new`] assembles.
pub struct Parts {
    /// Validated settings.
    pub settings: Settings,
    /// The database.
    pub store: Arc<dyn Store>,
    /// Access-token keys.
    pub jwt: JwtKeys,
    /// Secrets keys.
    pub keyring: Keyring,
    /// The sandbox launcher.
    pub launcher: Launcher,
    /// The generate provider, if configured.
    pub llm: Option<Arc<dyn pyth_on_llm::Provider>>,
    /// Package environments, when the server can build them.
    pub packages: Option<crate::packages::PackageManager>,
    /// Network egress, when `PYTH_ON_EGRESS=on`.
    pub egress: Option<crate::egress::Egress>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("backend", &self.store.backend())
            .field("launcher", &self.launcher)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("backend", &self.store.backend())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state.
    pub fn new(parts: Parts) -> Self {
        let runs = RunLimiter::new(
            parts.settings.runs.max_queued_runs as usize,
            parts.settings.runs.parallel_runs(),
            parts.settings.runs.max_concurrent_runs_per_user as usize,
            parts.settings.runs.max_queued_runs_per_user as usize,
        );
        let sessions = crate::sessions::registry::Registry::new(
            parts.settings.sessions.max_sessions_per_user,
            parts.settings.sessions.max_sessions,
            parts.settings.sessions.memory_budget_mb(),
        );
        let node =
            crate::sessions::node::NodeIdentity::new(parts.settings.sessions.node_url.as_deref());
        // Argon2 at m=19 MiB: bound the number hashed at once so a login flood cannot take
        // every core or all memory.
        let gate = pyth_on_sandbox::cpus::available().map_or(2, |n| n.get());
        Self(Arc::new(Inner {
            settings: parts.settings,
            store: parts.store,
            jwt: parts.jwt,
            keyring: std::sync::RwLock::new(Arc::new(parts.keyring)),
            launcher: parts.launcher,
            runs,
            llm: parts.llm,
            packages: parts.packages,
            egress: parts.egress,
            metrics: crate::metrics::Metrics::default(),
            password_gate: Semaphore::new(gate),
            password_pool: crate::password_pool::PasswordPool::new(gate),
            started: Instant::now(),
            sandbox_probe: SandboxProbe::default(),
            cancels: Default::default(),
            sessions,
            node,
            key_owners: Default::default(),
        }))
    }

    /// The owners of the API keys this node has looked up (a guess, see
    /// [`crate::key_owners`]).
    pub fn key_owners(&self) -> &crate::key_owners::KeyOwners {
        &self.0.key_owners
    }

    /// This node on the session records: its advertised URL and instance id.
    pub fn node(&self) -> &crate::sessions::node::NodeIdentity {
        &self.0.node
    }

    /// This node's open sessions.
    pub fn sessions(&self) -> &crate::sessions::registry::Registry {
        &self.0.sessions
    }

    /// Settings.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.0.store.as_ref()
    }

    /// The store, shared (for background tasks).
    pub fn store_arc(&self) -> Arc<dyn Store> {
        Arc::clone(&self.0.store)
    }

    /// Access-token keys.
    pub fn jwt(&self) -> &JwtKeys {
        &self.0.jwt
    }

    /// The secrets keyring as last loaded.
    pub fn keyring(&self) -> Arc<Keyring> {
        Arc::clone(&self.0.keyring.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reloads the keyring from the key directory (after a `keys rotate` or `keys retire` on
    /// any node), keeping the old one if the directory cannot be read. Returns the keyring in
    /// use afterwards.
    pub fn reload_keyring(&self) -> Arc<Keyring> {
        match Keyring::load(&self.0.settings.key_dir()) {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                let mut slot = self.0.keyring.write().unwrap_or_else(|e| e.into_inner());
                if slot.versions() != fresh.versions() {
                    tracing::info!(
                        versions = ?fresh.versions(),
                        current = fresh.current_version(),
                        "secrets keyring reloaded"
                    );
                }
                *slot = Arc::clone(&fresh);
                fresh
            }
            Err(e) => {
                tracing::warn!(error = %e, "the secrets keyring could not be reloaded");
                self.keyring()
            }
        }
    }

    /// The keyring to seal new secrets with: reloaded first when the key directory holds a
    /// newer version than the one held (a `keys rotate` since the last reload), so a secret
    /// written right after a rotation is sealed under the new key on every node.
    pub fn keyring_for_sealing(&self) -> Arc<Keyring> {
        let held = self.keyring();
        match Keyring::newest_version_in(&self.0.settings.key_dir()) {
            Ok(Some(newest)) if newest > held.current_version() => self.reload_keyring(),
            _ => held,
        }
    }

    /// The sandbox launcher.
    pub fn launcher(&self) -> &Launcher {
        &self.0.launcher
    }

    /// The generate provider, if one is configured.
    pub fn llm(&self) -> Option<&dyn pyth_on_llm::Provider> {
        self.0.llm.as_deref()
    }

    /// Package environments, when enabled.
    pub fn packages(&self) -> Option<&crate::packages::PackageManager> {
        self.0.packages.as_ref()
    }

    /// Network egress, when switched on.
    pub fn egress(&self) -> Option<&crate::egress::Egress> {
        self.0.egress.as_ref()
    }

    /// Operator counters.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.0.metrics
    }

    /// Run admission.
    pub fn runs(&self) -> &RunLimiter {
        &self.0.runs
    }

    /// The cached sandbox self-test of the readiness check.
    pub fn sandbox_probe(&self) -> &SandboxProbe {
        &self.0.sandbox_probe
    }

    /// The runs in progress on this node that their owners can stop.
    pub fn cancels(&self) -> &crate::execution::live::Cancels {
        &self.0.cancels
    }

    /// Seconds since start.
    pub fn uptime_secs(&self) -> u64 {
        self.0.started.elapsed().as_secs()
    }

    /// Runs a blocking password operation off the async runtime, behind the concurrency bound.
    pub async fn password_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.0.password_gate.acquire().await?;
        Ok(self.0.password_pool.run(work).await?)
    }

    /// Records a key's last use without holding up the request.
    pub fn touch_api_key(&self, key_id: Uuid) {
        let store = Arc::clone(&self.0.store);
        tokio::spawn(async move {
            let now = time::OffsetDateTime::now_utc();
            if let Err(err) = store.touch_api_key(key_id, now).await {
                tracing::warn!(api_key.id = %key_id, error = %err, "could not record key use");
            }
        });
    }
}
