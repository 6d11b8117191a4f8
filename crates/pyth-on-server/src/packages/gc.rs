//! Garbage collection of environments: by age, then by total size (least recently used
//! first); never one that is building or in use by an `ensure` on this node. Directories in
//! the root without a row (deleted by another node, or left by a crash) go too.

use std::sync::Arc;
use std::time::Duration;

use pyth_on_store::{Store, PACKAGE_ENV_BUILDING};
use time::OffsetDateTime;

use super::{PackageError, PackageManager};

/// What a collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Environment keys deleted (rows and directories).
    pub deleted: Vec<String>,
    /// Directories without a row that were removed.
    pub orphans: usize,
}

impl PackageManager {
    /// Deletes environments unused for `gc_max_age`, then the least recently used ones while
    /// the total exceeds `gc_max_total_bytes`.
    pub async fn gc(&self, store: &dyn Store) -> Result<GcReport, PackageError> {
        let cfg = self.config();
        let rows = store.list_package_envs().await?;
        let cutoff = OffsetDateTime::now_utc()
            - time::Duration::try_from(cfg.gc_max_age).unwrap_or(time::Duration::MAX);
        let mut total: u64 = rows
            .iter()
            .map(|r| u64::try_from(r.size_bytes).unwrap_or(0))
            .sum();
        let mut report = GcReport::default();
        let mut kept = std::collections::HashSet::new();
        for row in &rows {
            let size = u64::try_from(row.size_bytes).unwrap_or(0);
            let expired = row.last_used_at < cutoff;
            if row.status == PACKAGE_ENV_BUILDING || !(expired || total > cfg.gc_max_total_bytes) {
                kept.insert(row.env_key.clone());
                continue;
            }
            let lock = self.lock_for(&row.env_key);
            let Ok(_guard) = lock.try_lock() else {
                kept.insert(row.env_key.clone());
                continue;
            };
            store.delete_package_env(&row.env_key).await?;
            remove_env(&cfg.root, &row.env_key).await?;
            total = total.saturating_sub(size);
            report.deleted.push(row.env_key.clone());
        }
        report.orphans = self.remove_orphans(&kept).await?;
        if !report.deleted.is_empty() || report.orphans > 0 {
            tracing::info!(
                deleted = report.deleted.len(),
                orphans = report.orphans,
                "package environments collected"
            );
        }
        Ok(report)
    }

    async fn remove_orphans(
        &self,
        kept: &std::collections::HashSet<String>,
    ) -> Result<usize, PackageError> {
        let root = self.config().root.clone();
        let entries = std::fs::read_dir(&root)
            .map_err(PackageError::io(format!("listing {}", root.display())))?;
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_key = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
            let stale_tmp = name.starts_with(".tmp-") || name.starts_with(".trash-");
            if !(is_key || stale_tmp) || kept.contains(&name) {
                continue;
            }
            let old_enough = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().unwrap_or_default() > self.stale_after());
            if stale_tmp && !old_enough {
                continue;
            }
            if is_key {
                let lock = self.lock_for(&name);
                let Ok(_guard) = lock.try_lock() else {
                    continue;
                };
                remove_env(&root, &name).await?;
            } else {
                remove_env(&root, &name).await?;
            }
            removed += 1;
        }
        Ok(removed)
    }
}

/// Renames `<root>/<name>` aside (so no reader sees half a tree), then deletes it.
async fn remove_env(root: &std::path::Path, name: &str) -> Result<(), PackageError> {
    let path = root.join(name);
    let trash = root.join(format!(".trash-{}", uuid::Uuid::now_v7().simple()));
    tokio::task::spawn_blocking(move || {
        let target = if name_is_trash(&path) {
            path
        } else {
            match std::fs::rename(&path, &trash) {
                Ok(()) => trash,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
        };
        std::fs::remove_dir_all(&target)
    })
    .await
    .map_err(|e| PackageError::Io {
        context: "removing an environment".into(),
        source: std::io::Error::other(e),
    })?
    .map_err(PackageError::io(format!("removing environment {name}")))
}

fn name_is_trash(path: &std::path::Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(".trash-"))
}

/// Runs [`PackageManager::gc`] every `every` until the runtime stops.
pub fn spawn_gc_task(
    manager: PackageManager,
    store: Arc<dyn Store>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = manager.gc(store.as_ref()).await {
                tracing::warn!(error = %err, "package environment collection failed");
            }
        }
    })
}
