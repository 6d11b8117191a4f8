//! A network-namespace pool whose creations fail (here: too few descriptors for a namespace's
//! trace files) does not pay a creation for every run that asks for a namespace: it tries
//! again a second after a failure at the earliest, and makes namespaces again once it can.
//! A test binary of its own: it lowers this process's descriptor limit.
#![allow(clippy::unwrap_used, reason = "tests panic on purpose")]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::wait_until;
use pyth_on_sandbox::netns::{NetnsPool, PoolSizes};

const TEN_SECONDS: Duration = Duration::from_secs(10);

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

/// The soft limit under which this process has exactly `free` descriptor numbers left (a
/// new descriptor takes the lowest free number below the limit, so inherited descriptors
/// numbered high leave room below them).
fn limit_leaving(free: u64) -> u64 {
    let mut open: Vec<u64> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .collect();
    open.sort_unstable();
    (0..)
        .find(|&limit| limit - open.iter().filter(|&&fd| fd < limit).count() as u64 == free)
        .unwrap()
}

/// The most tries a maker that waits 1 s, 3 s, 7 s... after its first failure can have made
/// within `elapsed` of it.
fn tries_within(elapsed: Duration) -> u64 {
    1 + (1..)
        .take_while(|k| Duration::from_secs((1 << k) - 1) <= elapsed)
        .count() as u64
}

#[test]
fn a_pool_that_fails_to_make_a_namespace_retries_after_a_wait_not_on_every_ask() {
    common::privileged();
    let soft = current_soft_limit();
    // Room for the pool's descriptor of this process's namespace and a new one's (and two
    // more for the read of `/proc/self/fd`), not for the ten files of the new one's trace.
    soft_descriptor_limit(limit_leaving(4));
    let started = Instant::now();
    let pool = NetnsPool::start(PoolSizes { ready: 1, max: 1 }, true).unwrap();
    wait_until("the first creation fails", TEN_SECONDS, || {
        pool.stats().failed >= 1
    });
    // Fifty runs ask within half a second: without the wait each ask would be a creation,
    // and fail again.
    for _ in 0..50 {
        assert!(pool.lease().is_none());
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = pool.stats();
    let most = tries_within(started.elapsed());
    assert!(
        stats.failed <= most && stats.created == 0,
        "{stats:?}, at most {most}"
    );
    soft_descriptor_limit(soft);
    // Once the wait is over, an ask makes one.
    wait_until("a namespace made again", TEN_SECONDS, || {
        drop(pool.lease());
        pool.stats().created >= 1
    });
}

#[test]
fn the_tries_a_waiting_maker_can_make_grow_with_each_doubled_wait() {
    let tries = [0.5, 1.0, 2.9, 3.0, 7.0, 14.9].map(|s| tries_within(Duration::from_secs_f64(s)));
    assert_eq!(tries, [1, 2, 2, 3, 4, 4]);
}
