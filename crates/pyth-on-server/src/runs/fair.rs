//! Execution slots shared fairly between users: a round-robin over per-user queues in front of
//! `n` slots. When a slot frees, it goes to the first waiting run of the next user in the
//! rotation (who then moves to the back), so while one user has any number of runs waiting,
//! another user's run starts within one slot turnover. A waiter that gives up (its future is
//! dropped) is skipped.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use uuid::Uuid;

/// `n` execution slots handed out round-robin between users. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FairSlots(Arc<Mutex<State>>);

#[derive(Debug)]
struct State {
    free: usize,
    /// Users with waiting runs, in rotation order; each with its waiters in arrival order.
    rotation: VecDeque<(Uuid, VecDeque<oneshot::Sender<Slot>>)>,
}

/// One execution slot; dropping it hands it to the next user in the rotation.
#[derive(Debug)]
pub struct Slot(Option<Arc<Mutex<State>>>);

impl FairSlots {
    /// `n` slots (at least 1).
    pub fn new(n: usize) -> Self {
        Self(Arc::new(Mutex::new(State {
            free: n.max(1),
            rotation: VecDeque::new(),
        })))
    }

    /// Waits for a slot for a run of `user`.
    pub async fn acquire(&self, user: Uuid) -> Slot {
        let waiting = {
            let mut state = self.lock();
            if state.free > 0 && state.rotation.is_empty() {
                state.free -= 1;
                return Slot(Some(Arc::clone(&self.0)));
            }
            let (tx, rx) = oneshot::channel();
            match state.rotation.iter_mut().find(|(u, _)| *u == user) {
                Some((_, queue)) => queue.push_back(tx),
                None => state.rotation.push_back((user, VecDeque::from([tx]))),
            }
            rx
        };
        // The sender is only dropped unsent with the whole state (never while we wait).
        waiting.await.unwrap_or_else(|_| Slot(None))
    }

    /// Runs waiting for a slot, all users together.
    pub fn waiting(&self) -> usize {
        self.lock().rotation.iter().map(|(_, q)| q.len()).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(shared) = self.0.take() else { return };
        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((user, mut queue)) = state.rotation.pop_front() {
            let next = queue.pop_front();
            if !queue.is_empty() {
                state.rotation.push_back((user, queue));
            }
            if let Some(tx) = next {
                // A waiter that went away hands the slot on to the next one.
                match tx.send(Slot(Some(Arc::clone(&shared)))) {
                    Ok(()) => return,
                    Err(mut unsent) => unsent.0 = None,
                }
            }
        }
        state.free += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn started(slots: &FairSlots, user: Uuid) -> tokio::task::JoinHandle<Slot> {
        let s = slots.clone();
        let handle = tokio::spawn(async move { s.acquire(user).await });
        tokio::time::sleep(Duration::from_millis(5)).await;
        handle
    }

    #[tokio::test]
    async fn a_second_user_goes_before_the_first_users_backlog() {
        let slots = FairSlots::new(1);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let running = slots.acquire(a).await;
        let a_backlog = [started(&slots, a).await, started(&slots, a).await];
        let b_run = started(&slots, b).await;
        assert_eq!(slots.waiting(), 3);
        drop(running);
        // The slot goes to a's first waiter (a was first in the rotation), then to b.
        let [a1, a2] = a_backlog;
        let first = tokio::time::timeout(Duration::from_secs(1), a1)
            .await
            .unwrap()
            .unwrap();
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(1), b_run).await;
        assert!(second.is_ok(), "b runs before a's third run");
        assert!(!a2.is_finished());
        drop(second);
        tokio::time::timeout(Duration::from_secs(1), a2)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_waiter_that_gave_up_passes_the_slot_on() {
        let slots = FairSlots::new(1);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let running = slots.acquire(a).await;
        let gave_up = started(&slots, a).await;
        let b_run = started(&slots, b).await;
        gave_up.abort();
        let _ = gave_up.await;
        drop(running);
        let got = tokio::time::timeout(Duration::from_secs(1), b_run).await;
        assert!(got.is_ok());
        drop(got);
        assert_eq!(slots.waiting(), 0);
        // Every slot is back: a new run starts at once.
        let again = tokio::time::timeout(Duration::from_millis(100), slots.acquire(b)).await;
        assert!(again.is_ok());
    }
}
