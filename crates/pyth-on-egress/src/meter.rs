//! Per-run accounting: the counters a run reports (`requests`, `bytes`, `denied`) and the
//! bounds that cut a connection (bytes per run, connections per run, the per-user hourly
//! budget drawn in chunks from a [`ByteBudget`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

/// Bytes drawn from the per-user budget at a time: one budget call per 64 KiB relayed.
pub const BUDGET_CHUNK: u64 = 64 * 1024;

/// Per-run bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Upstream connections (tunnels and forwarded requests) per run.
    pub max_connections: u64,
    /// Requests the proxy reads per run, refused and malformed ones included (each may cost a
    /// DNS lookup): past it the proxy answers 429 without looking at them.
    pub max_requests: u64,
    /// Bytes relayed per run, both directions, counted on the upstream side.
    pub max_bytes: u64,
    /// Longest a run's egress may last (from the proxy's start); every connection is cut then.
    pub max_duration: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            max_connections: 64,
            max_requests: 256,
            max_bytes: 64 << 20,
            max_duration: Duration::from_secs(60),
        }
    }
}

/// A shared allowance (the per-user bytes-per-hour budget), consulted in [`BUDGET_CHUNK`]s.
#[async_trait::async_trait]
pub trait ByteBudget: Send + Sync + std::fmt::Debug {
    /// Takes `bytes` from the allowance; `false` when it is exhausted (or unavailable).
    async fn take(&self, bytes: u64) -> bool;
}

/// What a run did through the proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EgressStats {
    /// Requests received (CONNECT or forwarded), allowed or not.
    pub requests: u64,
    /// Bytes relayed to and from upstream servers.
    pub bytes: u64,
    /// Requests refused by the policy or a bound.
    pub denied: u64,
}

/// Why a relay was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Cut {
    /// The run's byte bound.
    #[error("the run's egress byte limit was reached")]
    Bytes,
    /// The user's hourly budget.
    #[error("the user's hourly egress budget is used up")]
    Budget,
}

/// The live counters and bounds of one run.
#[derive(Debug)]
pub struct Meter {
    bounds: Bounds,
    requests: AtomicU64,
    bytes: AtomicU64,
    denied: AtomicU64,
    connections: AtomicU64,
    budget: Option<Arc<dyn ByteBudget>>,
    /// Bytes already taken from the budget and not yet spent.
    credit: Mutex<u64>,
}

impl Meter {
    /// A fresh meter.
    pub fn new(bounds: Bounds, budget: Option<Arc<dyn ByteBudget>>) -> Self {
        Self {
            bounds,
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            denied: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            budget,
            credit: Mutex::new(0),
        }
    }

    /// The bounds.
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Counts a request.
    /// Counts a request; `false` once the run has made more than `max_requests`.
    pub fn request(&self) -> bool {
        self.requests.fetch_add(1, Ordering::Relaxed) < self.bounds.max_requests
    }

    /// Counts a refusal.
    pub fn deny(&self) {
        self.denied.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one upstream connection; `false` past the bound.
    pub fn connection(&self) -> bool {
        self.connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                (c < self.bounds.max_connections).then_some(c + 1)
            })
            .is_ok()
    }

    /// Accounts `n` bytes about to be relayed; `Err` means the connection must be cut and the
    /// bytes not sent.
    pub async fn spend(&self, n: u64) -> Result<(), Cut> {
        self.bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                b.checked_add(n).filter(|t| *t <= self.bounds.max_bytes)
            })
            .map_err(|_| Cut::Bytes)?;
        if let Some(budget) = &self.budget {
            let mut credit = self.credit.lock().await;
            while *credit < n {
                if !budget.take(BUDGET_CHUNK).await {
                    // Not relayed, so not counted.
                    self.bytes.fetch_sub(n, Ordering::Relaxed);
                    return Err(Cut::Budget);
                }
                *credit += BUDGET_CHUNK;
            }
            *credit -= n;
        }
        Ok(())
    }

    /// The counters now.
    pub fn stats(&self) -> EgressStats {
        EgressStats {
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            denied: self.denied.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(std::sync::atomic::AtomicU64);

    #[async_trait::async_trait]
    impl ByteBudget for Fixed {
        async fn take(&self, bytes: u64) -> bool {
            self.0
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                    left.checked_sub(bytes)
                })
                .is_ok()
        }
    }

    #[tokio::test]
    async fn bytes_past_the_run_bound_are_refused_and_not_counted() {
        let bounds = Bounds {
            max_bytes: 100,
            ..Bounds::default()
        };
        let m = Meter::new(bounds, None);
        assert_eq!(m.spend(60).await, Ok(()));
        assert_eq!(m.spend(50).await, Err(Cut::Bytes));
        assert_eq!(m.spend(40).await, Ok(()));
        assert_eq!(m.stats().bytes, 100);
    }

    #[tokio::test]
    async fn the_budget_is_drawn_in_chunks_and_cuts_when_empty() {
        let budget = Arc::new(Fixed(AtomicU64::new(2 * BUDGET_CHUNK)));
        let m = Meter::new(Bounds::default(), Some(budget.clone()));
        assert_eq!(m.spend(BUDGET_CHUNK + 1).await, Ok(()));
        assert_eq!(budget.0.load(Ordering::Relaxed), 0);
        assert_eq!(m.spend(BUDGET_CHUNK - 1).await, Ok(()));
        assert_eq!(m.spend(1).await, Err(Cut::Budget));
        assert_eq!(m.stats().bytes, 2 * BUDGET_CHUNK);
    }

    #[test]
    fn requests_stop_at_the_bound() {
        let m = Meter::new(
            Bounds {
                max_requests: 2,
                ..Bounds::default()
            },
            None,
        );
        assert!(m.request() && m.request());
        assert!(!m.request());
    }

    #[test]
    fn connections_stop_at_the_bound() {
        let m = Meter::new(
            Bounds {
                max_connections: 2,
                ..Bounds::default()
            },
            None,
        );
        assert!(m.connection());
        assert!(m.connection());
        assert!(!m.connection());
    }
}
