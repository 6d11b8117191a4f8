//! The network-namespace pool's two threads, seen from outside: a check never waits for the
//! maker, and both end with the pool. Each test here starts the only pool of this test process
//! (one at a time), so its threads are the process's `netns-*` threads.
#![allow(clippy::unwrap_used, reason = "tests panic on purpose")]
mod common;

use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::wait_until;
use pyth_on_sandbox::netns::{NetnsPool, PoolSizes};

static ONE_POOL_AT_A_TIME: Mutex<()> = Mutex::new(());

/// This process's threads named `netns-*`: (tid, name).
fn netns_threads() -> Vec<(String, String)> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| {
            let t = t.ok()?;
            let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
            let tid = t.file_name().into_string().ok()?;
            comm.starts_with("netns-")
                .then(|| (tid, comm.trim().to_owned()))
        })
        .collect()
}

#[test]
fn a_dropped_pool_ends_its_threads_and_closes_a_namespace_in_quarantine() {
    common::privileged();
    let _one = ONE_POOL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let pool = NetnsPool::start(PoolSizes { ready: 1, max: 1 }, true).unwrap();
    wait_until("ready", Duration::from_secs(10), || pool.ready() == 1);
    let lease = pool.lease().unwrap();
    let r = lease.reference();
    let kept = pool.clone();
    drop(pool);
    lease.give_back();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!netns_threads().is_empty(), "a clone keeps the pool");
    drop(kept);
    let open = || std::fs::metadata(&r.path).is_ok_and(|m| m.ino() == r.inode);
    wait_until(
        "the pool's threads end and the namespace is closed",
        Duration::from_secs(10),
        || netns_threads().is_empty() && !open(),
    );
}

/// Freezes one thread (the cgroup v1 freezer, which takes single threads) until dropped.
struct Frozen(std::path::PathBuf, String);

impl Frozen {
    fn thread(tid: &str) -> Self {
        let dir = std::path::PathBuf::from(format!(
            "/sys/fs/cgroup/freezer/pyth-on-test-netns-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)
            .expect("this test needs the cgroup v1 freezer at /sys/fs/cgroup/freezer");
        std::fs::write(dir.join("tasks"), tid).unwrap();
        std::fs::write(dir.join("freezer.state"), "FROZEN").unwrap();
        wait_until("frozen", Duration::from_secs(10), || {
            std::fs::read_to_string(dir.join("freezer.state"))
                .unwrap()
                .trim()
                == "FROZEN"
        });
        Self(dir, tid.to_owned())
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.join("freezer.state"), "THAWED");
        let _ = std::fs::write("/sys/fs/cgroup/freezer/tasks", &self.1);
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_given_back_namespace_is_checked_while_the_maker_is_stuck() {
    // A creation can take seconds in the kernel (others' namespaces being destroyed): a
    // frozen maker stands for one. The check must not wait for it.
    common::privileged();
    let _one = ONE_POOL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let pool = NetnsPool::start(PoolSizes { ready: 1, max: 1 }, true).unwrap();
    wait_until("ready", Duration::from_secs(10), || pool.ready() == 1);
    std::thread::sleep(Duration::from_millis(100)); // the maker back in its wait
    let (maker, _) = netns_threads()
        .into_iter()
        .find(|(_, name)| name == "netns-maker")
        .expect("the pool's maker thread");
    let frozen = Frozen::thread(&maker);
    let lease = pool.lease().unwrap();
    let given_back = Instant::now();
    lease.give_back();
    // The checker runs at nice 19: under a loaded machine it may take seconds.
    wait_until(
        "checked while the maker is stuck",
        Duration::from_secs(10),
        || pool.stats().reused == 1,
    );
    assert!(given_back.elapsed() >= pyth_on_sandbox::netns::QUARANTINE);
    drop(frozen);
    assert_eq!(pool.ready(), 1);
}
