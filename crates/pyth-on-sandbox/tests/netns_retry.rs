//! A network-namespace pool whose creations fail (here: too few descriptors for a namespace's
//! trace files) does not pay a creation for every run that asks for a namespace: it tries
//! again a second after a failure at the earliest, and makes namespaces again once it can.
//! A test binary of its own: it lowers this process's descriptor limit.
#![allow(clippy::unwrap_used, reason = "tests panic on purpose")]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use pyth_on_sandbox::netns::{NetnsPool, PoolSizes};

/// Sets this process's soft descriptor limit (`prlimit`), keeping the hard one.
fn soft_descriptor_limit(soft: u64) {
    let pid = std::process::id().to_string();
    let limit = format!("--nofile={soft}:");
    let status = Command::new("prlimit")
        .args(["--pid", &pid, &limit])
        .status()
        .unwrap();
    assert!(status.success(), "prlimit {limit}");
}

/// This process's soft descriptor limit (`/proc/self/limits`).
fn current_soft_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

fn wait(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_pool_that_fails_to_make_a_namespace_retries_after_a_wait_not_on_every_ask() {
    common::privileged();
    let (open, soft) = (
        std::fs::read_dir("/proc/self/fd").unwrap().count() as u64,
        current_soft_limit(),
    );
    // Room for the pool's own descriptor of this namespace and a new one, not for the ten
    // files of its trace.
    soft_descriptor_limit(open + 4);
    let pool = NetnsPool::start(PoolSizes { ready: 1, max: 1 }, true).unwrap();
    wait("the first creation fails", || pool.stats().failed >= 1);
    // Fifty runs ask within half a second: without the wait each ask would be a creation,
    // and fail again.
    for _ in 0..50 {
        assert!(pool.lease().is_none());
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = pool.stats();
    assert!(stats.failed <= 2 && stats.created == 0, "{stats:?}");
    soft_descriptor_limit(soft);
    // Once the wait is over, an ask makes one.
    wait("a namespace made again", || {
        drop(pool.lease());
        pool.stats().created >= 1
    });
}
