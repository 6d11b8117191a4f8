//! The sessions open on this node: id → [`Entry`], with the per-user and per-node caps held
//! at creation by a [`Reservation`] (counted from the moment a session is asked for until it
//! is registered or has failed to open, so concurrent creations cannot overshoot a cap).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyth_on_egress::RunListener;
use pyth_on_launcher::{Interrupter, Language, Session, Stopper};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::caller::Caller;
use crate::redact::OpenSecrets;

/// One open session.
pub struct Entry {
    /// Its id.
    pub id: Uuid,
    /// Who opened it (the reaper's audit entries are attributed to this caller).
    pub opener: Caller,
    /// Its kernel's language.
    pub language: Language,
    /// Memory limit in MiB.
    pub memory_mb: u64,
    /// Ends after this long without a cell.
    pub idle_timeout: Duration,
    /// Ends this long after it opened.
    pub max_lifetime: Duration,
    /// When it opened (wall clock, for answers).
    pub created_at: OffsetDateTime,
    /// When it opened (monotonic, for deadlines).
    pub opened: Instant,
    /// When its last cell ended (or it opened).
    last_used: Mutex<(Instant, OffsetDateTime)>,
    /// The owner's secrets as they were at creation: redacted from every cell's answer.
    pub secrets: OpenSecrets,
    /// The launcher's session: one cell at a time.
    pub kernel: tokio::sync::Mutex<Session>,
    /// Stops the kernel's cell or file operation in progress (the session is ending).
    pub stopper: Stopper,
    /// Interrupts the kernel's running cell (`POST .../interrupt`).
    pub interrupter: Interrupter,
    /// Its egress proxy, if it has the network (stopped when it ends).
    pub egress: Mutex<Option<RunListener>>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id)
            .field("owner", &self.opener.user_id)
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

/// What an entry is made of (the rest is set when it is built).
pub struct NewEntry {
    /// Who opens it.
    pub opener: Caller,
    /// Memory limit in MiB.
    pub memory_mb: u64,
    /// Idle timeout.
    pub idle_timeout: Duration,
    /// Lifetime.
    pub max_lifetime: Duration,
    /// The owner's secrets (for redaction).
    pub secrets: OpenSecrets,
    /// Its egress proxy, if it has the network.
    pub egress: Option<RunListener>,
}

impl std::fmt::Debug for NewEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEntry")
            .field("owner", &self.opener.user_id)
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl Entry {
    /// A just-opened session.
    pub fn new(id: Uuid, new: NewEntry, kernel: Session) -> Self {
        let now = (Instant::now(), OffsetDateTime::now_utc());
        Self {
            id,
            opener: new.opener,
            language: kernel.language(),
            memory_mb: new.memory_mb,
            idle_timeout: new.idle_timeout,
            max_lifetime: new.max_lifetime,
            created_at: now.1,
            opened: now.0,
            last_used: Mutex::new(now),
            secrets: new.secrets,
            egress: Mutex::new(new.egress),
            stopper: kernel.stopper(),
            interrupter: kernel.interrupter(),
            kernel: tokio::sync::Mutex::new(kernel),
        }
    }

    /// The owner.
    pub fn owner(&self) -> Uuid {
        self.opener.user_id
    }

    /// Marks the session used now.
    pub fn touch(&self) {
        *lock(&self.last_used) = (Instant::now(), OffsetDateTime::now_utc());
    }

    /// When it was last used (monotonic, wall clock).
    pub fn last_used(&self) -> (Instant, OffsetDateTime) {
        *lock(&self.last_used)
    }

    /// Why the session is over at `now`, if it is: its lifetime, or (not busy) its idle time.
    pub fn expired(&self, now: Instant, busy: bool) -> Option<super::EndReason> {
        if now.saturating_duration_since(self.opened) >= self.max_lifetime {
            return Some(super::EndReason::Lifetime);
        }
        let idle = now.saturating_duration_since(self.last_used().0);
        (!busy && idle >= self.idle_timeout).then_some(super::EndReason::Idle)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a session could not be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The user holds their share already (the number).
    User(usize),
    /// The node holds its maximum.
    Node,
    /// The sessions' memory budget would be passed (MiB held, MiB of the budget).
    Memory(u64, u64),
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<Uuid, Arc<Entry>>,
    /// Sessions being opened, per user.
    pending: HashMap<Uuid, usize>,
    /// MiB asked for by the sessions being opened.
    pending_mb: u64,
}

impl Table {
    fn held_by(&self, user: Uuid) -> usize {
        let open = self.entries.values().filter(|e| e.owner() == user).count();
        open + self.pending.get(&user).copied().unwrap_or(0)
    }

    fn held(&self) -> usize {
        self.entries.len() + self.pending.values().sum::<usize>()
    }

    fn held_mb(&self) -> u64 {
        let open: u64 = self.entries.values().map(|e| e.memory_mb).sum();
        open + self.pending_mb
    }
}

/// The node's open sessions. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    table: Arc<Mutex<Table>>,
    per_user: usize,
    per_node: usize,
    budget_mb: u64,
}

/// A place held for a session being opened; given back on drop unless registered.
#[derive(Debug)]
pub struct Reservation {
    table: Arc<Mutex<Table>>,
    user: Uuid,
    memory_mb: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut table = lock(&self.table);
        table.pending_mb = table.pending_mb.saturating_sub(self.memory_mb);
        if let Some(n) = table.pending.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                table.pending.remove(&self.user);
            }
        }
    }
}

impl Registry {
    /// An empty registry with these caps (sessions per user and per node, MiB of memory of
    /// all sessions).
    pub fn new(per_user: usize, per_node: usize, budget_mb: u64) -> Self {
        Self {
            table: Arc::default(),
            per_user,
            per_node,
            budget_mb,
        }
    }

    /// Holds a place for one more session of `user` asking for `memory_mb`, or says which
    /// cap is reached.
    pub fn reserve(&self, user: Uuid, memory_mb: u64) -> Result<Reservation, Full> {
        let mut table = lock(&self.table);
        let held = table.held_by(user);
        if held >= self.per_user {
            return Err(Full::User(held));
        }
        if table.held() >= self.per_node {
            return Err(Full::Node);
        }
        let held_mb = table.held_mb();
        if held_mb + memory_mb > self.budget_mb {
            return Err(Full::Memory(held_mb, self.budget_mb));
        }
        *table.pending.entry(user).or_default() += 1;
        table.pending_mb += memory_mb;
        Ok(Reservation {
            table: self.table.clone(),
            user,
            memory_mb,
        })
    }

    /// Sessions `user` holds on this node: open ones, and places reserved for ones opening.
    pub fn held_by(&self, user: Uuid) -> usize {
        lock(&self.table).held_by(user)
    }

    /// Registers an opened session in the place `reservation` held.
    pub fn insert(&self, reservation: Reservation, entry: Arc<Entry>) {
        let mut table = lock(&self.table);
        table.entries.insert(entry.id, entry);
        drop(table);
        drop(reservation);
    }

    /// The session `id` if `user` owns it.
    pub fn get(&self, user: Uuid, id: Uuid) -> Option<Arc<Entry>> {
        let table = lock(&self.table);
        table
            .entries
            .get(&id)
            .filter(|e| e.owner() == user)
            .cloned()
    }

    /// Whether session `id` is open here, whoever owns it.
    pub fn contains(&self, id: Uuid) -> bool {
        lock(&self.table).entries.contains_key(&id)
    }

    /// Takes the session `id` out if `user` owns it (`None`: not theirs, or already gone).
    pub fn remove(&self, user: Uuid, id: Uuid) -> Option<Arc<Entry>> {
        let mut table = lock(&self.table);
        if table.entries.get(&id).is_some_and(|e| e.owner() == user) {
            return table.entries.remove(&id);
        }
        None
    }

    /// `user`'s sessions, oldest first.
    pub fn of(&self, user: Uuid) -> Vec<Arc<Entry>> {
        let table = lock(&self.table);
        let mut mine: Vec<Arc<Entry>> = table
            .entries
            .values()
            .filter(|e| e.owner() == user)
            .cloned()
            .collect();
        mine.sort_by_key(|e| e.opened);
        mine
    }

    /// Every session, taken out.
    pub fn drain(&self) -> Vec<Arc<Entry>> {
        lock(&self.table).entries.drain().map(|(_, e)| e).collect()
    }

    /// The sessions over at `now`, taken out, each with why. A busy session (its kernel
    /// locked by a running cell) is never idle, but is over at the end of its lifetime like
    /// any other (ending it stops the cell).
    pub fn take_expired(&self, now: Instant) -> Vec<(Arc<Entry>, super::EndReason)> {
        let mut table = lock(&self.table);
        let over: Vec<(Uuid, super::EndReason)> = table
            .entries
            .values()
            .filter_map(|e| {
                let busy = e.kernel.try_lock().is_err();
                Some((e.id, e.expired(now, busy)?))
            })
            .collect();
        over.into_iter()
            .filter_map(|(id, reason)| table.entries.remove(&id).map(|e| (e, reason)))
            .collect()
    }

    /// Open sessions per language, and how many run a cell or a file operation now: (Python,
    /// JavaScript, busy).
    pub fn census(&self) -> (usize, usize, usize) {
        let table = lock(&self.table);
        table.entries.values().fold((0, 0, 0), |(py, js, busy), e| {
            let busy = busy + usize::from(e.kernel.try_lock().is_err());
            match e.language {
                Language::Python => (py + 1, js, busy),
                Language::Javascript => (py, js + 1, busy),
            }
        })
    }

    /// How many sessions are open (reservations left out).
    pub fn len(&self) -> usize {
        lock(&self.table).entries.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_count_against_both_caps_until_they_are_given_back() {
        let registry = Registry::new(2, 3, 1 << 20);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let first = registry.reserve(a, 64).unwrap();
        let _second = registry.reserve(a, 64).unwrap();
        assert_eq!(registry.reserve(a, 64).unwrap_err(), Full::User(2));
        let _third = registry.reserve(b, 64).unwrap();
        assert_eq!(registry.reserve(b, 64).unwrap_err(), Full::Node);
        drop(first);
        assert!(registry.reserve(b, 64).is_ok());
        assert!(registry.is_empty());
    }

    #[test]
    fn the_memory_budget_counts_sessions_being_opened_and_frees_what_a_failed_one_held() {
        let registry = Registry::new(4, 8, 1000);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let big = registry.reserve(a, 600).unwrap();
        assert_eq!(
            registry.reserve(b, 401).unwrap_err(),
            Full::Memory(600, 1000)
        );
        let fits = registry.reserve(b, 400).unwrap();
        drop(big);
        assert!(registry.reserve(a, 600).is_ok());
        drop(fits);
    }
}
