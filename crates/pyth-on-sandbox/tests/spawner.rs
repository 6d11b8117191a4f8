//! The runner spawner ([`pyth_on_sandbox::spawner`]): a long-lived `pyth-on-runner spawner`
//! that forks each run's runner. This test process plays the server: it starts the spawner,
//! and every runner it asks for becomes its own child.
#![allow(clippy::unwrap_used, reason = "tests panic on purpose")]
mod common;

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::privileged;
use pyth_on_sandbox::protocol::{self, RunnerFrame, ServerFrame};
use pyth_on_sandbox::spawner::{self, Answer, SpawnerError};

/// A running spawner and the control socket to it.
struct Spawner {
    child: Child,
    control: OwnedFd,
}

fn start_spawner() -> Spawner {
    let (control, theirs) = spawner::control_pair().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_pyth-on-runner"))
        .arg(spawner::SPAWNER_ARG)
        .env_clear()
        .stdin(Stdio::from(theirs))
        .spawn()
        .unwrap();
    assert!(matches!(answer(&control).unwrap(), Answer::Ready));
    Spawner { child, control }
}

/// The spawner's next answer, waited for (5 s at most).
fn answer(control: &OwnedFd) -> Result<Answer, SpawnerError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(answer) = spawner::read_answer(control.as_fd())? {
            return Ok(answer);
        }
        assert!(Instant::now() < deadline, "no answer");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A runner the spawner forked (a child of this process) and this process's ends of its pipes.
#[derive(Debug)]
struct Spawned {
    pid: i32,
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

fn request(control: &OwnedFd) -> Result<Spawned, SpawnerError> {
    let pipes = spawner::send_request(control.as_fd())?;
    match answer(control)? {
        Answer::Spawned { pid, pidfd: _ } => Ok(Spawned {
            pid,
            stdin: pipes.stdin,
            stdout: pipes.stdout,
            stderr: pipes.stderr,
        }),
        Answer::Ready => panic!("`ready` to a request"),
    }
}

/// The `pipe:[inode]` names of descriptors, as `/proc/PID/fd` shows them.
fn link_of(fd: &OwnedFd) -> String {
    let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd));
    std::fs::read_link(path).unwrap().display().to_string()
}

/// What `/proc/PID/fd` of `pid` links to, by descriptor number.
fn descriptors_of(pid: i32) -> Vec<(u32, String)> {
    let mut fds: Vec<(u32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse().ok()?;
            Some((n, std::fs::read_link(e.path()).ok()?.display().to_string()))
        })
        .collect();
    fds.sort();
    fds
}

fn parent_of(pid: i32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("PPid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Reaps the runner `pid`, waiting at most 10 s; its raw wait status.
fn reaped(pid: i32) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = spawner::reap(pid, true).unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the runner did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_spawned_runner_is_a_child_of_the_caller_and_holds_only_the_three_pipes_it_was_given() {
    let spawner = start_spawner();
    let spawned = request(&spawner.control).unwrap();
    assert_eq!(parent_of(spawned.pid), std::process::id());
    assert_eq!(
        parent_of(i32::try_from(spawner.child.id()).unwrap()),
        std::process::id()
    );
    // Its own ends of the three pipes, as the caller's ends name them.
    let given = [&spawned.stdin, &spawned.stdout, &spawned.stderr].map(link_of);
    // It closes what it inherited right after the fork; wait until it has.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut fds = descriptors_of(spawned.pid);
    while fds.iter().any(|(_, l)| !given.contains(l)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        fds = descriptors_of(spawned.pid);
    }
    assert!(
        fds.iter().all(|(_, link)| given.contains(link)),
        "descriptors other than its stdio pipes: {fds:?} (given {given:?})"
    );
    let stdio: Vec<&(u32, String)> = fds.iter().filter(|(n, _)| *n <= 2).collect();
    assert_eq!(stdio.len(), 3, "{fds:?}");
    for (n, link) in stdio {
        assert_eq!(*link, given[*n as usize], "descriptor {n}");
    }
    drop(spawned.stdin); // EOF: a runner without a job exits by itself
    assert_eq!(
        reaped(spawned.pid) & 0x7f,
        0,
        "it exited, no signal killed it"
    );
}

#[test]
fn a_spawned_runner_runs_a_job_and_its_exit_status_reaches_the_caller() {
    privileged();
    let spawner = start_spawner();
    let spawned = request(&spawner.control).unwrap();
    let job = ServerFrame::Job(Box::new(common::py("print('from a forked runner')")));
    let mut stdin = File::from(spawned.stdin.try_clone().unwrap());
    stdin
        .write_all(&protocol::encode_frame(&job).unwrap())
        .unwrap();
    drop(stdin);
    let mut stdout = File::from(spawned.stdout.try_clone().unwrap());
    let result = loop {
        match protocol::read_frame(&mut stdout).unwrap() {
            RunnerFrame::Result(result) => break result,
            RunnerFrame::Ready(_) | RunnerFrame::Output(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    };
    assert_eq!(
        result.stdout, "from a forked runner\n",
        "stderr: {}",
        result.stderr
    );
    assert_eq!(result.exit_code, 0);
    drop(spawned.stdin);
    assert_eq!(
        reaped(spawned.pid),
        0,
        "the runner tore its sandbox down and exited 0"
    );
}

#[test]
fn many_runners_from_one_spawner_are_distinct_processes() {
    let spawner = start_spawner();
    let runners: Vec<Spawned> = (0..20)
        .map(|_| request(&spawner.control).unwrap())
        .collect();
    let mut pids: Vec<i32> = runners.iter().map(|r| r.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 20);
    for spawned in runners {
        let pid = spawned.pid;
        drop(spawned.stdin);
        let status = spawner::reap(pid, false).unwrap().unwrap();
        assert_eq!(status & 0x7f, 0, "runner {pid} exited by itself");
    }
}

#[test]
fn the_spawner_exits_when_its_control_socket_closes() {
    let Spawner { mut child, control } = start_spawner();
    drop(control);
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the spawner is still running");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn a_request_to_a_spawner_that_is_gone_fails_at_once() {
    let Spawner { mut child, control } = start_spawner();
    child.kill().unwrap();
    child.wait().unwrap();
    let started = Instant::now();
    let err = request(&control).unwrap_err();
    assert!(
        matches!(err, SpawnerError::Sys(_) | SpawnerError::Closed),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// Plays a server: starts a spawner, asks it for one runner on its own stdin, stdout and
/// stderr (which the test gave it), writes the runner's pid to the file `argv[2]`, and waits
/// to be killed.
const STAND_IN_SERVER: &str = r#"
import signal, socket, subprocess, sys
ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
spawner = subprocess.Popen([sys.argv[1], "spawner"], stdin=theirs, env={})
theirs.close()
assert ours.recv(64) == b"ready"
socket.send_fds(ours, [b"spawn"], [0, 1, 2])
answer, fds, _, _ = socket.recv_fds(ours, 256, 1)
with open(sys.argv[2], "w") as f:
    f.write(answer.decode().split()[1])
signal.pause()
"#;

#[test]
fn a_forked_runner_dies_with_the_server_even_while_its_stdin_stays_open() {
    // The test keeps the runner's stdin open, so only the death signal can end it.
    let (stdin_r, stdin_w) = std::io::pipe().unwrap();
    let (_stdout_r, stdout_w) = std::io::pipe().unwrap();
    let (_stderr_r, stderr_w) = std::io::pipe().unwrap();
    let dir = std::env::temp_dir().join(format!("pyth-on-stand-in-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let mut server = Command::new("/usr/bin/python3")
        .args(["-c", STAND_IN_SERVER, env!("CARGO_BIN_EXE_pyth-on-runner")])
        .arg(&dir)
        .stdin(Stdio::from(stdin_r))
        .stdout(Stdio::from(stdout_w))
        .stderr(Stdio::from(stderr_w))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let runner: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&dir)
            .ok()
            .and_then(|s| s.parse().ok())
        {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "the stand-in never got its runner"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = std::fs::remove_file(&dir);
    assert_eq!(
        parent_of(runner),
        server.id(),
        "the runner is the stand-in's child"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(runner) {
        assert!(Instant::now() < deadline, "the runner outlived its server");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(stdin_w);
}

/// Whether `pid` is a process that has not exited (a zombie has).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}
