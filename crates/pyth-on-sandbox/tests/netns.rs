//! Network namespaces leased to runs ([`pyth_on_sandbox::netns`]): a namespace goes to the
//! next run only if the last one left no trace in it; anything a run left there (a connection,
//! a packet, a socket) ends with the namespace, and the next run gets a new one.
#![allow(clippy::unwrap_used, reason = "tests panic on purpose")]
mod common;

use std::time::{Duration, Instant};

use common::{privileged, run, spec};
use pyth_on_sandbox::netns::{NetnsPool, NetnsStats, PoolSizes, QUARANTINE};
use pyth_on_sandbox::protocol::{JobSpec, Language, RunnerFrame};

/// A pool of one namespace, once it is ready.
fn pool_of_one() -> NetnsPool {
    let pool = NetnsPool::start(PoolSizes { ready: 1, max: 1 }, true).unwrap();
    wait_for(&pool, |p| p.ready() == 1);
    pool
}

fn wait_for(pool: &NetnsPool, done: impl Fn(&NetnsPool) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(pool) {
        assert!(Instant::now() < deadline, "pool: {:?}", pool.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `code` (Python) in a namespace leased from `pool`, gives it back after the runner
/// exited, and returns stdout.
fn run_leased(pool: &NetnsPool, code: &str) -> String {
    let lease = pool.lease().expect("a ready namespace");
    let mut job = spec(Language::Python, code);
    job.netns = Some(lease.reference());
    let result = run(&job);
    assert_eq!(result.exit_code, 0, "stderr: {}", result.stderr);
    lease.give_back();
    result.stdout
}

const NAMESPACE: &str = "import os\nprint(os.readlink('/proc/self/ns/net'))\n";

#[test]
fn a_run_that_left_no_trace_hands_its_namespace_to_the_next_run_with_nothing_of_it_left() {
    privileged();
    let pool = pool_of_one();
    let first = run_leased(
        &pool,
        &format!(
            "{NAMESPACE}import socket\n\
             u = socket.socket(socket.AF_UNIX)\nu.bind('\\0pyth-on-probe')\nu.listen()\n\
             t = socket.socket()\nt.bind(('127.0.0.1', 4000))\nt.listen()\n\
             a, b = socket.socketpair()\na.send(b'x')\n"
        ),
    );
    wait_for(&pool, |p| p.stats().reused == 1);
    let second = run_leased(
        &pool,
        &format!(
            "{NAMESPACE}import socket\n\
             u = socket.socket(socket.AF_UNIX)\n\
             try:\n    u.connect('\\0pyth-on-probe')\n    print('reached')\n\
             except ConnectionRefusedError:\n    print('refused')\n\
             print('@pyth-on-probe' in open('/proc/net/unix').read())\n"
        ),
    );
    let ns = first.lines().next().unwrap();
    assert!(ns.starts_with("net:["), "{first}");
    assert_eq!(second, format!("{ns}\nrefused\nFalse\n"));
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        host.to_str().unwrap(),
        ns,
        "a run never shares the host's namespace"
    );
}

#[test]
fn a_run_that_used_the_network_leaves_its_namespace_to_be_destroyed_and_the_next_starts_clean() {
    privileged();
    let pool = pool_of_one();
    run_leased(
        &pool,
        "import socket\nl = socket.socket()\nl.bind(('127.0.0.1', 0))\nl.listen()\n\
         c = socket.create_connection(l.getsockname())\nc.send(b'trace')\nc.close()\n",
    );
    wait_for(&pool, |p| p.stats().destroyed == 1 && p.ready() == 1);
    let NetnsStats {
        created, reused, ..
    } = pool.stats();
    assert_eq!(
        (created, reused),
        (2, 0),
        "a new namespace, not the used one"
    );
    let seen = run_leased(
        &pool,
        "snmp = [l.split() for l in open('/proc/net/snmp') if l.startswith('Tcp:')]\n\
         print(dict(zip(snmp[0], snmp[1]))['ActiveOpens'])\n\
         lo = [l.split() for l in open('/proc/net/dev') if l.strip().startswith('lo:')][0]\n\
         print(lo[2], lo[10])\n\
         print([l for l in open('/proc/net/sockstat') if l.startswith('TCP:')][0].split()[6])\n",
    );
    assert_eq!(
        seen, "0\n0 0\n0\n",
        "connections, lo packets in/out, TIME_WAIT"
    );
}

#[test]
fn a_runs_ipv6_lookups_of_localhost_leave_its_namespace_reusable() {
    // glibc sorts `localhost`'s two addresses by connecting a UDP socket to each: each CPU
    // then keeps a copy of the route to ::1 (in `rt6_stats`), made by the pool beforehand.
    privileged();
    let pool = pool_of_one();
    run_leased(
        &pool,
        "import os, socket\n\
         for cpu in sorted(os.sched_getaffinity(0)):\n    \
             os.sched_setaffinity(0, {cpu})\n    \
             socket.getaddrinfo('localhost', 80, type=socket.SOCK_DGRAM)\n    \
             u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n    \
             u.connect(('::1', 9))\n    \
             u.close()\n",
    );
    wait_for(&pool, |p| p.stats().reused == 1);
}

#[test]
fn a_multicast_join_just_before_the_end_keeps_the_namespace_from_the_next_run() {
    // The join's report leaves from a kernel timer after the run ended: the namespace waits
    // out its quarantine before the check, which then sees the report and destroys it.
    privileged();
    let pool = pool_of_one();
    run_leased(
        &pool,
        "import os, socket, struct\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         for g in range(4):\n    \
             group = socket.inet_aton(f'239.1.2.{g + 1}') + socket.inet_aton('127.0.0.1')\n    \
             s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group)\n\
         s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
         group6 = socket.inet_pton(socket.AF_INET6, 'ff02::1:7') + struct.pack('@I', 1)\n\
         s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group6)\n\
         os._exit(0)\n",
    );
    wait_for(&pool, |p| p.stats().destroyed == 1);
    assert_eq!(pool.stats().reused, 0);
}

#[test]
fn traffic_on_the_host_while_a_namespace_waits_for_its_check_does_not_count_against_it() {
    privileged();
    let pool = pool_of_one();
    pool.lease().expect("a ready namespace").give_back();
    // Packets on this process's loopback (the host's namespace, where the checker thread runs)
    // while the namespace waits: its check reads the files of that namespace, wherever it
    // reads.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = socket.local_addr().unwrap();
    for _ in 0..10 {
        socket.send_to(b"x", to).unwrap();
    }
    wait_for(&pool, |p| p.stats().reused == 1);
}

#[test]
fn a_namespace_not_given_back_is_destroyed_and_replaced() {
    privileged();
    let pool = pool_of_one();
    drop(pool.lease().unwrap());
    wait_for(&pool, |p| p.ready() == 1);
    let stats = pool.stats();
    assert_eq!((stats.created, stats.destroyed, stats.reused), (2, 1, 0));
}

#[test]
fn a_runner_refuses_a_namespace_other_than_the_leased_one() {
    privileged();
    let pool = pool_of_one();
    let lease = pool.lease().unwrap();
    let mut job = spec(Language::Python, "print('never')");
    let mut wrong = lease.reference();
    wrong.inode += 1;
    job.netns = Some(wrong);
    let error = refusal(&job);
    assert!(error.contains("leased"), "{error}");
}

#[test]
fn a_leased_namespace_is_refused_with_egress() {
    privileged();
    let pool = pool_of_one();
    let lease = pool.lease().unwrap();
    let mut job = spec(Language::Python, "print('never')");
    job.netns = Some(lease.reference());
    job.egress = Some(pyth_on_sandbox::egress::EgressSpec {
        socket: "/run/pyth-on/none.sock".into(),
    });
    let error = refusal(&job);
    assert!(error.contains("without egress"), "{error}");
}

/// Why the runner refused `job`, sent cold (a prepare profile never carries egress at all).
fn refusal(job: &JobSpec) -> String {
    match common::frame_in(job, common::Mode::Cold) {
        RunnerFrame::Failed { error } => error,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_given_back_namespace_is_not_ready_again_before_its_quarantine() {
    privileged();
    let pool = pool_of_one();
    let lease = pool.lease().expect("a ready namespace");
    let given_back = Instant::now();
    lease.give_back();
    wait_for(&pool, |p| {
        // Never ready for a next run before the quarantine has passed.
        assert!(
            p.ready() == 0 || given_back.elapsed() >= QUARANTINE,
            "ready after {:?}",
            given_back.elapsed()
        );
        p.stats().reused == 1
    });
    assert!(given_back.elapsed() >= QUARANTINE);
}
