//! The fork server's serving loop under strain: a client that connects and sends nothing, out
//! of descriptors, and retired with a payload still running.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{root_client, run_through};
use crate::common::{fork::fork_server_through, privileged};

/// A root client that connects, sends a request of one field and prints the answer.
const ONE_FIELD: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\0" + sys.argv[1])
s.sendall(b"x")
print(s.recv(4096).decode().strip())
"#;

#[test]
fn a_client_that_connects_and_sends_nothing_holds_up_no_other_run() {
    privileged();
    let (server, _guard) = fork_server_through(&[]);
    let stalled = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\0" + sys.argv[1])
print("connected", flush=True)
print(s.recv(4096).decode().strip())
"#;
    let mut client = Command::new("/usr/bin/python3")
        .args(["-c", stalled, &server.socket])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut out = std::io::BufReader::new(client.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut out, &mut first).unwrap();
    assert_eq!(first, "connected\n");
    // Served while the silent connection is still open and unanswered (the loop used to wait
    // for it, up to its 5 s deadline, and answer it first).
    assert_eq!(run_through(server, "print(3)").stdout, "3\n");
    let still_waiting = client.try_wait().unwrap().is_none();
    let _ = client.kill();
    let _ = client.wait();
    assert!(
        still_waiting,
        "the silent client was answered before the run was served"
    );
}

#[test]
fn a_fork_server_out_of_descriptors_waits_without_spinning_and_serves_once_it_has_some() {
    privileged();
    let (server, _guard) = fork_server_through(&[]);
    let pid = server.pid.to_string();
    // Its lowest free descriptor number is at its limit from now on: `accept` fails (EMFILE)
    // while a connection waits.
    let lowest_free = (0..)
        .find(|n| !std::path::Path::new(&format!("/proc/{pid}/fd/{n}")).exists())
        .unwrap();
    set_nofile(&pid, &lowest_free.to_string());
    let client = Command::new("/usr/bin/python3")
        .args(["-c", ONE_FIELD, &server.socket])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(&pid);
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(&pid) - before;
    set_nofile(&pid, "1024");
    let answer = client.wait_with_output().unwrap();
    // A loop that spun on the queued connection would have used the whole second (100 ticks).
    assert!(spent < 20, "the fork server used {spent} ticks in 1 s");
    assert_eq!(
        String::from_utf8_lossy(&answer.stdout).trim(),
        "error a request has 7 fields, not 1"
    );
    assert_eq!(run_through(server, "print(9)").stdout, "9\n");
}

#[test]
fn a_retired_fork_server_refuses_connections_while_its_last_payload_runs() {
    privileged();
    let (server, guard) = fork_server_through(&[]);
    let long = std::thread::spawn({
        let server = server.clone();
        move || run_through(server, "import time; time.sleep(5); print('finished')")
    });
    wait_for_child_of(server.pid);
    guard.retire();
    let refused = wait_until(|| {
        let out = root_client(ONE_FIELD, &server.socket);
        String::from_utf8_lossy(&out.stderr).contains("ConnectionRefusedError")
    });
    assert!(refused, "a retired fork server still accepted a connection");
    assert!(
        !long.is_finished(),
        "the payload ended before the check: no payload was running"
    );
    assert!(
        std::path::Path::new(&format!("/proc/{}", server.pid)).exists(),
        "the fork server waits for its payload before it exits"
    );
    assert_eq!(long.join().unwrap().stdout, "finished\n");
}

/// Sets the soft `RLIMIT_NOFILE` of process `pid`.
fn set_nofile(pid: &str, soft: &str) {
    let status = Command::new("prlimit")
        .args(["--pid", pid, &format!("--nofile={soft}:")])
        .status()
        .unwrap();
    assert!(status.success(), "prlimit --nofile={soft}");
}

/// User and system CPU time of process `pid`, in clock ticks.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Waits until process `pid` has a child (the fork server forked a payload).
fn wait_for_child_of(pid: i32) {
    let children = format!("/proc/{pid}/task/{pid}/children");
    let forked =
        wait_until(|| std::fs::read_to_string(&children).is_ok_and(|c| !c.trim().is_empty()));
    assert!(forked, "the fork server never forked the payload");
}

/// Polls `done` every 20 ms for up to 10 s.
fn wait_until(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
