//! The fork server's serving loop under strain: malformed requests, a client that connects
//! and sends nothing, another user's connection, out of descriptors, and retired with a
//! payload still running.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pyth_on_sandbox::protocol::Bind;

use super::{root_client, run_through};
use crate::common::{fork::fork_server_through, privileged};

/// A client that connects, says so, waits for a line from the fork server, prints it. With
/// an argument after the socket's name, it first sends that as its request.
const CLIENT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\0" + sys.argv[1])
print("connected", flush=True)
if len(sys.argv) > 2:
    s.sendall(sys.argv[2].encode())
print(s.recv(4096).decode().strip())
"#;

/// Starts [`CLIENT`] (through `wrapper`, e.g. `setpriv` options) and waits until it is
/// connected.
fn connected_client(wrapper: &[&str], socket: &str, request: Option<&str>) -> Child {
    let mut command = Command::new(wrapper.first().copied().unwrap_or("/usr/bin/python3"));
    if !wrapper.is_empty() {
        command.args(&wrapper[1..]).arg("/usr/bin/python3");
    }
    let mut client = command
        .args(["-c", CLIENT, socket])
        .args(request)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Byte by byte: a buffered reader could take the answer after it too.
    let mut line = Vec::new();
    let out = client.stdout.as_mut().unwrap();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') && out.read(&mut byte).unwrap() == 1 {
        line.push(byte[0]);
    }
    assert_eq!(line, b"connected\n", "the client did not connect");
    client
}

/// What the client printed after `connected`.
fn answer(client: Child) -> String {
    let out = client.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_client_that_connects_and_sends_nothing_holds_up_no_other_run() {
    privileged();
    let (server, _guard) = fork_server_through(&[]);
    let mut client = connected_client(&[], &server.socket, None);
    // Served (forked: its parent is outside its PID namespace) while the silent connection is
    // still open and unanswered; the loop used to wait for it, up to its 5 s deadline, and the
    // runner then ran the program in an interpreter of its own.
    assert_eq!(
        run_through(server, "import os\nprint(os.getppid())").stdout,
        "0\n"
    );
    let still_waiting = client.try_wait().unwrap().is_none();
    let _ = client.kill();
    let _ = client.wait();
    assert!(
        still_waiting,
        "the silent client was answered before the run was served"
    );
}

#[test]
fn at_most_64_silent_connections_hold_a_descriptor_of_the_fork_server() {
    privileged();
    let (server, _guard) = fork_server_through(&[]);
    let open_fds = || open_fds_of(server.pid);
    let before = open_fds();
    let many = r#"
import socket, sys, time
held = []
for _ in range(80):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("\0" + sys.argv[1])
    held.append(s)
print("connected", flush=True)
time.sleep(30)
"#;
    let mut client = Command::new("/usr/bin/python3")
        .args(["-c", many, &server.socket])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = [0u8; 10];
    client
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut line)
        .unwrap();
    let reached = wait_until(|| open_fds() == before + 64);
    // And no more while they stay silent (fewer once they expire, after 5 s).
    let most = (0..10)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            open_fds() - before
        })
        .max();
    let _ = client.kill();
    let _ = client.wait();
    assert!(reached, "the fork server never held 64 connections");
    assert!(
        most <= Some(64),
        "the fork server held {most:?} connections"
    );
}

#[test]
fn another_users_connection_is_refused_at_once_without_a_request() {
    privileged();
    let (server, _guard) = fork_server_through(&[]);
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let client = connected_client(&nobody, &server.socket, None);
    assert_eq!(answer(client), "error requests are taken from root only");
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
    let client = connected_client(&[], &server.socket, Some("x"));
    let before = on_cpu_or_waiting(&pid);
    std::thread::sleep(Duration::from_secs(1));
    let busy = on_cpu_or_waiting(&pid) - before;
    set_nofile(&pid, "1024");
    // A loop spinning on the queued connection is always running or runnable: about the whole
    // second, however loaded the machine.
    assert!(busy < Duration::from_millis(300), "busy {busy:?} of 1 s");
    assert_eq!(answer(client), "error a request has 7 fields, not 1");
    assert_eq!(run_through(server, "print(9)").stdout, "9\n");
}

#[test]
fn a_retired_fork_server_refuses_connections_while_its_last_payload_runs() {
    privileged();
    let (server, guard) = fork_server_through(&[]);
    // The payload runs until the test creates `go` in a directory bound into its sandbox.
    let flag = tempfile::tempdir().unwrap();
    let bound = "/pkg/python/site-packages";
    let code = format!(
        "import os, time\nwhile not os.path.exists('{bound}/go'):\n    time.sleep(0.01)\nprint('finished')"
    );
    let long = std::thread::spawn({
        let (server, bind) = (server.clone(), Bind::read_only(flag.path(), bound));
        move || super::run_through_with(server, &code, vec![bind])
    });
    wait_for_child_of(server.pid);
    guard.retire();
    let refused = wait_until(|| {
        let out = Command::new("/usr/bin/python3")
            .args(["-c", CLIENT, &server.socket, "x"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).contains("ConnectionRefusedError")
    });
    assert!(refused, "a retired fork server still accepted a connection");
    assert!(!long.is_finished(), "the payload ended before the check");
    assert_ne!(
        state_of(server.pid),
        'Z',
        "the fork server exited with a payload running"
    );
    std::fs::write(flag.path().join("go"), "").unwrap();
    assert_eq!(long.join().unwrap().stdout, "finished\n");
}

#[test]
fn a_malformed_request_is_refused_and_the_fork_server_keeps_serving() {
    privileged();
    // A fork server of its own: no other test's payloads open descriptors in it meanwhile.
    let (server, _guard) = fork_server_through(&[]);
    let open_fds = || open_fds_of(server.pid);
    let fds_before = open_fds();
    let client = r#"
import os, socket, sys
requests = (
    (b"1000 1000 64", 9),
    (b"1000 x 64 1048576 5 0 /code/main.py", 9),
    (b"{}", 9),
    (b"1000 1000 64 1048576 5 0 /code/main.py", 40),
)
for line, n in requests:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("\0" + sys.argv[1])
    fds = [os.open("/dev/null", os.O_RDWR) for _ in range(n)]
    socket.send_fds(s, [line], fds)
    print(s.recv(4096).decode().strip())
"#;
    let out = root_client(client, &server.socket);
    let answers = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<&str> = answers.lines().collect();
    assert_eq!(
        answers.len(),
        4,
        "{answers:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(answers[0], "error a request has 7 fields, not 3");
    assert_eq!(answers[1], r#"error not a number: "x""#);
    assert_eq!(answers[2], "error a request has 7 fields, not 1");
    assert!(
        answers[3].contains("message or descriptors truncated"),
        "{}",
        answers[3]
    );
    // Nothing of the refused requests stays open in the fork server (it closes them right
    // after its answer).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while open_fds() != fds_before && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(open_fds(), fds_before);
    // The fork server itself holds no capability it could pass on to a payload.
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid)).unwrap();
    for field in ["CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000"] {
        assert!(status.contains(field), "{field} in {status}");
    }
    assert_eq!(run_through(server, "print(8)").stdout, "8\n");
}

/// How many descriptors process `pid` holds.
fn open_fds_of(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Sets the soft `RLIMIT_NOFILE` of process `pid`.
fn set_nofile(pid: &str, soft: &str) {
    let status = Command::new("prlimit")
        .args(["--pid", pid, &format!("--nofile={soft}:")])
        .status()
        .unwrap();
    assert!(status.success(), "prlimit --nofile={soft}");
}

/// Time process `pid` has spent on a CPU or waiting for one (`/proc/PID/schedstat`).
fn on_cpu_or_waiting(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap();
    let ns: Vec<u64> = stat
        .split_whitespace()
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    Duration::from_nanos(ns[0] + ns[1])
}

/// The state letter of process `pid` (`Z` for a zombie).
fn state_of(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 2..].chars().next().unwrap()
}

/// Waits until process `pid` has a child (the fork server forked the payload).
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
