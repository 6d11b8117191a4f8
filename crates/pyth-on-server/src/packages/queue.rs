//! The node's build queue: at most `max_concurrent` builds run at once (each in its own
//! sandbox, outside the execution slots of runs), handed out round-robin between the users
//! who asked for them (the runs' [`FairSlots`]), and at most `max_queued` wait for a slot
//! (a build that finds a free slot passes through); past that a build is refused ([`super::PackageError::BuildsBusy`]) before anything is claimed
//! or recorded, so a busy node never marks a set as failed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
}

/// A place in the queue; [`Ticket::slot`] waits for a build slot. Dropping it leaves.
#[derive(Debug)]
pub struct Ticket(Arc<Inner>);

/// A running build's slot: the ticket and the fair slot.
#[derive(Debug)]
pub struct Slot {
    _ticket: Ticket,
    permit: FairSlot,
}

impl BuildQueue {
    /// `max_concurrent` builds at once, `max_queued` waiting (each at least 1).
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        Self(Arc::new(Inner {
            slots: FairSlots::new(max_concurrent),
            entered: AtomicUsize::new(0),
            capacity: max_queued.max(1),
        }))
    }

    /// A place in the queue, or `None` when it is full.
    pub fn enter(&self) -> Option<Ticket> {
        let inner = &self.0;
        let taken = inner
            .entered
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < inner.capacity).then_some(n + 1)
            });
        taken.ok().map(|_| Ticket(Arc::clone(inner)))
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
    pub async fn slot(self, requester: Uuid) -> Slot {
        let permit = self.0.slots.acquire(requester).await;
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
        self.0.entered.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_admits_its_bound_of_waiting_builds_and_no_more() {
        let queue = BuildQueue::new(1, 2);
        let tickets: Vec<_> = (0..2).map(|_| queue.enter()).collect();
        assert!(tickets.iter().all(Option::is_some));
        assert!(queue.enter().is_none(), "a third waiting build is refused");
        drop(tickets);
        assert!(queue.is_empty());
        assert!(queue.enter().is_some());
    }

    #[tokio::test]
    async fn a_waiting_build_gets_the_slot_when_the_running_one_ends() {
        let queue = BuildQueue::new(1, 1);
        let user = Uuid::now_v7();
        let first = queue.enter().unwrap().slot(user).await.into_permit();
        let waiting = tokio::spawn(queue.enter().unwrap().slot(user));
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
