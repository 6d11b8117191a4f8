//! One tenant cannot starve or reach another through the node: execution slots are shared
//! fairly, each user has a share of the queue, and every run has a uid of its own (so per-uid
//! kernel limits belong to one run). Two real accounts, a real server, the real sandbox.

use std::time::{Duration, Instant};

use pyth_on_types::ExecuteRequest;

use crate::support::{TestServer, TestUser};

fn python(code: &str) -> ExecuteRequest {
    ExecuteRequest {
        code: code.into(),
        ..Default::default()
    }
}

/// Starts `n` runs of `code` for `user` in the background.
fn background(
    user: &TestUser,
    n: usize,
    code: &str,
) -> Vec<tokio::task::JoinHandle<Result<pyth_on_types::ExecuteResponse, String>>> {
    (0..n)
        .map(|_| {
            let (client, req) = (user.key.clone(), python(code));
            tokio::spawn(async move { client.execute(&req).await.map_err(|e| e.to_string()) })
        })
        .collect()
}

#[tokio::test]
async fn a_second_users_run_starts_within_one_slot_turnover_while_the_first_has_a_backlog() {
    let server = TestServer::start_with(|s| {
        s.runs.max_parallel_runs = Some(2);
        s.runs.max_concurrent_runs_per_user = 4;
    })
    .await;
    let (ada, bob) = (server.user().await, server.user().await);
    // Ada fills both slots and queues two more behind them.
    let long = "import time; time.sleep(2); print('ada')";
    let ada_runs = background(&ada, 4, long);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let started = Instant::now();
    let bob_run = bob.key.execute(&python("print('bob')")).await.unwrap();
    let waited = started.elapsed();
    eprintln!("bob waited {waited:?} with ada's 4 runs in flight");
    assert_eq!(bob_run.output, "bob\n");
    // One turnover is at most ~1.3 s here (2 s runs, 0.7 s in); first come, first served
    // would put bob behind ada's two queued runs (~3.3 s).
    assert!(
        waited < Duration::from_millis(2600),
        "bob waited {waited:?} behind ada's backlog"
    );
    for run in ada_runs {
        assert_eq!(run.await.unwrap().unwrap().output, "ada\n");
    }
}

#[tokio::test]
async fn a_user_past_their_queue_share_gets_429_and_another_user_still_runs() {
    let server = TestServer::start_with(|s| {
        s.runs.max_parallel_runs = Some(1);
        s.runs.max_concurrent_runs_per_user = 4;
        s.runs.max_queued_runs = 10;
        s.runs.max_queued_runs_per_user = 3;
    })
    .await;
    let (ada, bob) = (server.user().await, server.user().await);
    let ada_runs = background(&ada, 5, "import time; time.sleep(1)");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bob_run = bob.key.execute(&python("print('bob')")).await.unwrap();
    assert_eq!(bob_run.output, "bob\n");
    let mut refused = 0;
    for run in ada_runs {
        match run.await.unwrap() {
            Ok(r) => assert_eq!(r.exit_code, 0),
            Err(e) => {
                assert!(e.contains("429") || e.contains("too_many_runs"), "{e}");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 2, "ada's share is 3 runs waiting or running");
}

#[tokio::test]
async fn concurrent_runs_have_distinct_uids_so_per_uid_kernel_limits_are_their_own() {
    let server = TestServer::start_with(|s| {
        s.runs.max_parallel_runs = Some(2);
        s.runs.run_uid_start = 1_700_000_000;
        s.runs.run_uid_count = 1000;
    })
    .await;
    let (ada, bob) = (server.user().await, server.user().await);
    // Ada takes every inotify instance the kernel allows one uid (128 by default) and forks
    // 40 sleepers, then holds them while bob's run does the same.
    let hog = r#"
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
held = 0
while held < 200 and libc.inotify_init1(0) >= 0:
    held += 1
kids = [os.fork() or time.sleep(3) or os._exit(0) for _ in range(40)]
print(os.getuid(), held, len(kids))
time.sleep(2.5)
"#;
    let ada_run = background(&ada, 1, hog).pop().unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let probe = r#"
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
kids = [os.fork() or time.sleep(1) or os._exit(0) for _ in range(40)]
print(os.getuid(), fd >= 0, ctypes.get_errno(), len(kids))
"#;
    let bob_run = bob.key.execute(&python(probe)).await.unwrap();
    let ada_run = ada_run.await.unwrap().unwrap();
    let ada_out: Vec<&str> = ada_run.output.split_whitespace().collect();
    let bob_out: Vec<&str> = bob_run.output.split_whitespace().collect();
    assert_eq!(ada_out.len(), 3, "{ada_run:?}");
    assert_eq!(bob_out.len(), 4, "{bob_run:?}");
    let uids: Vec<u32> = [ada_out[0], bob_out[0]]
        .iter()
        .map(|u| u.parse().unwrap())
        .collect();
    assert_ne!(uids[0], uids[1], "two live runs never share a uid");
    assert!(uids
        .iter()
        .all(|u| (1_700_000_000..1_700_001_000).contains(u)));
    let held: u32 = ada_out[1].parse().unwrap();
    assert!(held >= 100, "ada held {held} inotify instances");
    assert_eq!(
        bob_out[1], "True",
        "bob's inotify_init1 failed: {bob_run:?}"
    );
    assert_eq!((ada_out[2], bob_out[3]), ("40", "40"));
}
