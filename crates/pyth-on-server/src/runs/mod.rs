//! Run admission: a bound on runs waiting or running on this node (past it: 503 at once), a
//! share of that queue per user (past it: 429 at once, others unaffected), a per-user bound on
//! concurrent runs (more wait their turn), and the node's execution slots, handed out fairly
//! between users ([`fair`]).

pub mod fair;
pub mod settings;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;
use uuid::Uuid;

pub use fair::{FairSlots, Slot};
pub use settings::RunSettings;

/// Admission control for runs.
#[derive(Debug)]
pub struct RunLimiter {
    admitted: Arc<AtomicUsize>,
    max_admitted: usize,
    slots: FairSlots,
    users: Arc<Mutex<HashMap<Uuid, UserShare>>>,
    per_user_limit: usize,
    per_user_queued: usize,
    /// Runs carried on apart from their request (see [`RunLimiter::detach`]).
    detached: TaskTracker,
}

/// One user's runs on this node: how many are admitted, and their concurrency bound.
#[derive(Debug)]
struct UserShare {
    admitted: usize,
    running: Arc<Semaphore>,
}

/// Held for the whole run; releases every bound on drop.
#[derive(Debug)]
pub struct RunPermit {
    _slot: Slot,
    _user: OwnedSemaphorePermit,
    _admitted: AdmittedGuard,
}

#[derive(Debug)]
struct AdmittedGuard {
    node: Arc<AtomicUsize>,
    users: Arc<Mutex<HashMap<Uuid, UserShare>>>,
    user: Uuid,
}

impl Drop for AdmittedGuard {
    fn drop(&mut self) {
        self.node.fetch_sub(1, Ordering::AcqRel);
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(share) = users.get_mut(&self.user) {
            share.admitted -= 1;
            if share.admitted == 0 {
                users.remove(&self.user);
            }
        }
    }
}

/// Why a run was not admitted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// The node's queue is full: 503.
    #[error("run queue full")]
    NodeFull,
    /// This user's share of the queue is full: 429; other users are unaffected.
    #[error("{0} runs of this user are already waiting or running")]
    UserFull(usize),
}

impl RunLimiter {
    /// `max_admitted` runs waiting or running on the node, `per_user_queued` of them per user;
    /// `parallel` executing (shared fairly); `per_user` of one user at once.
    pub fn new(
        max_admitted: usize,
        parallel: usize,
        per_user: usize,
        per_user_queued: usize,
    ) -> Self {
        Self {
            admitted: Arc::new(AtomicUsize::new(0)),
            max_admitted,
            slots: FairSlots::new(parallel),
            users: Arc::default(),
            per_user_limit: per_user.max(1),
            per_user_queued: per_user_queued.max(1),
            detached: TaskTracker::new(),
        }
    }

    /// Carries `work` on in a task of its own, so it ends and is accounted for even when the
    /// request that started it is dropped (its client went away); the caller awaits the
    /// handle for the result.
    pub fn detach<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.detached.spawn(work)
    }

    /// Resolves once every detached run has ended (shutdown waits for it, within its grace
    /// period).
    pub async fn detached_done(&self) {
        self.detached.close();
        self.detached.wait().await;
    }

    /// Admits a run or refuses at once; then waits for the user's and the node's turn.
    pub async fn admit(&self, user: Uuid) -> Result<RunPermit, Refused> {
        let (admitted, running) = self.enter(user)?;
        let user_permit = running
            .acquire_owned()
            .await
            .map_err(|_| Refused::NodeFull)?;
        let slot = self.slots.acquire(user).await;
        Ok(RunPermit {
            _slot: slot,
            _user: user_permit,
            _admitted: admitted,
        })
    }

    /// Counts the run in the node's and the user's queue, or refuses.
    fn enter(&self, user: Uuid) -> Result<(AdmittedGuard, Arc<Semaphore>), Refused> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let share = users.entry(user).or_insert_with(|| UserShare {
            admitted: 0,
            running: Arc::new(Semaphore::new(self.per_user_limit)),
        });
        if share.admitted >= self.per_user_queued {
            let n = share.admitted;
            if n == 0 {
                users.remove(&user);
            }
            return Err(Refused::UserFull(n));
        }
        if self.admitted.load(Ordering::Acquire) >= self.max_admitted {
            if share.admitted == 0 {
                users.remove(&user);
            }
            return Err(Refused::NodeFull);
        }
        self.admitted.fetch_add(1, Ordering::AcqRel);
        share.admitted += 1;
        let running = Arc::clone(&share.running);
        let guard = AdmittedGuard {
            node: Arc::clone(&self.admitted),
            users: Arc::clone(&self.users),
            user,
        };
        Ok((guard, running))
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
        let limiter = RunLimiter::new(2, 1, 4, 8);
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
    async fn a_user_past_its_queue_share_is_refused_and_others_are_not() {
        let limiter = Arc::new(RunLimiter::new(10, 1, 1, 2));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let first = limiter.admit(a).await.unwrap();
        let l = Arc::clone(&limiter);
        let queued = tokio::spawn(async move { l.admit(a).await.map(drop) });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(limiter.admit(a).await.err(), Some(Refused::UserFull(2)));
        let l = Arc::clone(&limiter);
        let other = tokio::spawn(async move { l.admit(b).await.map(drop) });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(limiter.admitted(), 3, "b is admitted beside a's two");
        drop(first);
        assert!(queued.await.unwrap().is_ok());
        assert!(other.await.unwrap().is_ok());
        assert_eq!(limiter.admitted(), 0);
    }

    #[tokio::test]
    async fn one_user_cannot_take_more_than_its_share() {
        let limiter = Arc::new(RunLimiter::new(10, 10, 1, 8));
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
