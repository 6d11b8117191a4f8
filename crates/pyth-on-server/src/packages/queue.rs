//! The node's build queue: at most `max_concurrent` builds run at once (each in its own
//! sandbox, outside the execution slots of runs), handed out round-robin between the users
//! who asked for them (the runs' [`FairSlots`]), and at most `max_queued` wait for a slot
//! (a build that finds a free slot passes through), of them at most `max_per_user` asked
//! for by one user; past either bound a build is refused ([`super::PackageError::BuildsBusy`]) before anything is claimed
//! or recorded, so a busy node never marks a set as failed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::runs::{FairSlots, Slot as FairSlot};

/// Bounded concurrency and a bounded wait for builds. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BuildQueue(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    slots: FairSlots,
    /// Builds holding a ticket: waiting for a slot (or just about to take a free one).
    entered: AtomicUsize,
    capacity: usize,
    /// Tickets per requester (the nil id, the server itself, is not bounded).
    per_user: Mutex<HashMap<Uuid, usize>>,
    max_per_user: usize,
}

/// Why a build could not enter the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The node's queue is full.
    Node,
    /// This requester already has its share waiting.
    User,
}

/// A place in the queue; [`Ticket::slot`] waits for a build slot. Dropping it leaves.
#[derive(Debug)]
pub struct Ticket {
    inner: Arc<Inner>,
    requester: Uuid,
}

/// A running build's slot: the ticket and the fair slot.
#[derive(Debug)]
pub struct Slot {
    _ticket: Ticket,
    permit: FairSlot,
}

impl BuildQueue {
    /// `max_concurrent` builds at once, `max_queued` waiting, `max_per_user` of them for one
    /// requester (each at least 1).
    pub fn new(max_concurrent: usize, max_queued: usize, max_per_user: usize) -> Self {
        Self(Arc::new(Inner {
            slots: FairSlots::new(max_concurrent),
            entered: AtomicUsize::new(0),
            capacity: max_queued.max(1),
            per_user: Mutex::default(),
            max_per_user: max_per_user.max(1),
        }))
    }

    /// A place in the queue for a build `requester` asked for, or why not.
    pub fn enter(&self, requester: Uuid) -> Result<Ticket, Full> {
        let inner = &self.0;
        let mut users = inner.per_user.lock().unwrap_or_else(|e| e.into_inner());
        let mine = users.get(&requester).copied().unwrap_or(0);
        if !requester.is_nil() && mine >= inner.max_per_user {
            return Err(Full::User);
        }
        inner
            .entered
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < inner.capacity).then_some(n + 1)
            })
            .map_err(|_| Full::Node)?;
        users.insert(requester, mine + 1);
        Ok(Ticket {
            inner: Arc::clone(inner),
            requester,
        })
    }

    /// Builds waiting for a slot.
    pub fn len(&self) -> usize {
        self.0.entered.load(Ordering::SeqCst)
    }

    /// No build waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Ticket {
    /// Waits for a build slot; builds asked for by different users take turns.
    pub async fn slot(self) -> Slot {
        let permit = self.inner.slots.acquire(self.requester).await;
        Slot {
            _ticket: self,
            permit,
        }
    }
}

impl Slot {
    /// The permit to hold until the build's sandbox is gone (the build stops waiting: it
    /// leaves the queue, and the permit alone bounds it from here).
    pub fn into_permit(self) -> FairSlot {
        self.permit
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.inner.entered.fetch_sub(1, Ordering::SeqCst);
        let mut users = self
            .inner
            .per_user
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = users.get_mut(&self.requester) {
            *n -= 1;
            if *n == 0 {
                users.remove(&self.requester);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_admits_its_bound_of_waiting_builds_and_no_more() {
        let queue = BuildQueue::new(1, 2, 2);
        let tickets: Vec<_> = (0..2).map(|_| queue.enter(Uuid::now_v7())).collect();
        assert!(tickets.iter().all(Result::is_ok));
        assert_eq!(queue.enter(Uuid::now_v7()).err(), Some(Full::Node));
        drop(tickets);
        assert!(queue.is_empty());
        assert!(queue.enter(Uuid::now_v7()).is_ok());
    }

    #[test]
    fn one_requester_cannot_fill_the_queue() {
        let queue = BuildQueue::new(1, 16, 2);
        let ada = Uuid::now_v7();
        let held = [queue.enter(ada).unwrap(), queue.enter(ada).unwrap()];
        assert_eq!(queue.enter(ada).err(), Some(Full::User));
        assert!(queue.enter(Uuid::now_v7()).is_ok(), "others still enter");
        drop(held);
        assert!(queue.enter(ada).is_ok());
    }

    #[tokio::test]
    async fn a_waiting_build_gets_the_slot_when_the_running_one_ends() {
        let queue = BuildQueue::new(1, 2, 2);
        let user = Uuid::now_v7();
        let first = queue.enter(user).unwrap().slot().await.into_permit();
        let waiting = tokio::spawn(queue.enter(user).unwrap().slot());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one build at a time");
        drop(first);
        let second = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("the slot is handed on")
            .unwrap();
        drop(second);
        assert!(queue.is_empty());
    }
}
