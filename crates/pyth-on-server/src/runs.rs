//! Run admission: a bound on runs waiting or running on this node (past it: 503 at once), a
//! per-user bound on concurrent runs (more wait their turn), and a bound on runs executing at
//! once (the machine's cores).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// Admission control for runs.
#[derive(Debug)]
pub struct RunLimiter {
    admitted: Arc<AtomicUsize>,
    max_admitted: usize,
    parallel: Arc<Semaphore>,
    per_user: Mutex<HashMap<Uuid, Arc<Semaphore>>>,
    per_user_limit: usize,
}

/// Held for the whole run; releases every bound on drop.
#[derive(Debug)]
pub struct RunPermit {
    _parallel: OwnedSemaphorePermit,
    _user: OwnedSemaphorePermit,
    _admitted: AdmittedGuard,
}

#[derive(Debug)]
struct AdmittedGuard(Arc<AtomicUsize>);

impl Drop for AdmittedGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Too many runs are admitted on this node.
#[derive(Debug, thiserror::Error)]
#[error("run queue full")]
pub struct QueueFull;

impl RunLimiter {
    /// `max_admitted` runs waiting or running; `parallel` executing; `per_user` per user.
    pub fn new(max_admitted: usize, parallel: usize, per_user: usize) -> Self {
        Self {
            admitted: Arc::new(AtomicUsize::new(0)),
            max_admitted,
            parallel: Arc::new(Semaphore::new(parallel.max(1))),
            per_user: Mutex::new(HashMap::new()),
            per_user_limit: per_user.max(1),
        }
    }

    /// Admits a run or refuses at once; then waits for the user's and the node's turn.
    pub async fn admit(&self, user: Uuid) -> Result<RunPermit, QueueFull> {
        let prev = self.admitted.fetch_add(1, Ordering::AcqRel);
        let admitted = AdmittedGuard(Arc::clone(&self.admitted));
        if prev >= self.max_admitted {
            return Err(QueueFull);
        }
        let user_sem = {
            let mut map = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
            // Forget idle users so the map does not grow without bound.
            map.retain(|_, sem| {
                Arc::strong_count(sem) > 1 || sem.available_permits() < self.per_user_limit
            });
            Arc::clone(
                map.entry(user)
                    .or_insert_with(|| Arc::new(Semaphore::new(self.per_user_limit))),
            )
        };
        let user_permit = user_sem.acquire_owned().await.map_err(|_| QueueFull)?;
        let parallel = Arc::clone(&self.parallel)
            .acquire_owned()
            .await
            .map_err(|_| QueueFull)?;
        Ok(RunPermit {
            _parallel: parallel,
            _user: user_permit,
            _admitted: admitted,
        })
    }

    /// Runs admitted right now.
    pub fn admitted(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_past_the_queue_bound_are_refused_at_once() {
        let limiter = RunLimiter::new(2, 1, 4);
        let user = Uuid::now_v7();
        let first = limiter.admit(user).await.expect("first admitted");
        let second = tokio::spawn({
            let limiter = Arc::new(limiter);
            let l2 = Arc::clone(&limiter);
            async move {
                let waiting = tokio::spawn(async move { l2.admit(user).await.is_ok() });
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let third = limiter.admit(user).await;
                (third.is_err(), waiting, limiter)
            }
        });
        let (third_refused, waiting, _limiter) = second.await.unwrap();
        assert!(
            third_refused,
            "a third run must be refused while two are admitted"
        );
        drop(first);
        assert!(
            waiting.await.unwrap(),
            "the queued run proceeds once the first ends"
        );
    }

    #[tokio::test]
    async fn one_user_cannot_take_more_than_its_share() {
        let limiter = Arc::new(RunLimiter::new(10, 10, 1));
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let _held = limiter.admit(a).await.unwrap();
        // b is not held up by a's run.
        let got = tokio::time::timeout(std::time::Duration::from_secs(1), limiter.admit(b)).await;
        assert!(got.is_ok());
        // a's second run waits.
        let l = Arc::clone(&limiter);
        let waited = tokio::time::timeout(std::time::Duration::from_millis(100), l.admit(a)).await;
        assert!(
            waited.is_err(),
            "a second run of the same user waits its turn"
        );
    }
}
