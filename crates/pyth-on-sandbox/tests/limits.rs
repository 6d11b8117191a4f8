//! Resource limits and teardown, tested for real. They need root; CI runs as root.

#![allow(clippy::unwrap_used, reason = "test helpers panic on purpose")]

mod common;

use std::time::{Duration, Instant};

use common::{js, privileged, py, run, run_with_env};

#[test]
fn a_fork_bomb_is_contained_by_pids_max() {
    privileged();
    let mut s = py(r#"
import os, time
kids, err = 0, None
for _ in range(500):
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        kids += 1
    except OSError as e:
        err = e.errno
        break
print(kids, err)
"#);
    s.limits.pids_max = 32;
    let started = Instant::now();
    let r = run(&s);
    let (kids, err) = r.stdout.trim().split_once(' ').expect(&r.stdout);
    assert!(kids.parse::<u32>().unwrap() < 32, "{r:?}");
    assert_eq!(err, "11", "fork must fail with EAGAIN: {r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "sleeping children must die with the run"
    );
}

#[test]
fn an_exponential_fork_bomb_ends_at_the_timeout_and_leaves_nothing() {
    privileged();
    let mut s = py(
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
    );
    s.limits.pids_max = 32;
    s.limits.timeout_ms = 1500;
    let started = Instant::now();
    let session = run_with_env(&s, &[]);
    assert!(session.result.timed_out, "{:?}", session.result);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "teardown took too long"
    );
    assert_eq!(
        common::cgroups::of_runner(session.runner_pid),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn the_memory_cap_kills_python_and_is_reported() {
    privileged();
    let mut s = py("chunks = []\nwhile True:\n    chunks.append(bytearray(8 << 20))");
    s.limits.memory_mb = 64;
    let r = run(&s);
    assert!(r.memory_exceeded, "{r:?}");
    assert_eq!((r.exit_code, r.timed_out), (137, false), "{r:?}");
}

#[test]
fn the_memory_cap_stops_node_within_the_timeout() {
    privileged();
    let mut s = js("const a = []; for (;;) a.push(Buffer.alloc(8 << 20, 1));");
    s.limits.memory_mb = 128;
    s.limits.timeout_ms = 4000;
    let started = Instant::now();
    let r = run(&s);
    assert_ne!(r.exit_code, 0, "{r:?}");
    assert!(r.memory_exceeded || r.timed_out, "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(8), "{r:?}");
}

#[test]
fn an_infinite_loop_hits_the_timeout() {
    privileged();
    let mut s = py("print('started', flush=True)\nwhile True:\n    pass");
    s.limits.timeout_ms = 700;
    let r = run(&s);
    assert!(r.timed_out, "{r:?}");
    assert_eq!((r.exit_code, r.signal), (137, Some(9)));
    assert_eq!(r.stdout, "started\n", "output before the kill is kept");
    assert!(r.duration_ms < 3000.0, "{r:?}");
}

#[test]
fn an_output_flood_is_truncated_and_stopped() {
    privileged();
    let mut s = py("import sys\nwhile True:\n    sys.stdout.write('x' * 4096)");
    s.limits.max_output_bytes = 10_000;
    let r = run(&s);
    assert!(r.output_truncated, "{r:?}");
    assert_eq!(r.stdout.len(), 10_000);
    assert!(!r.timed_out);
    assert_eq!(r.exit_code, 137);
}

#[test]
fn the_tmpfs_is_size_capped() {
    privileged();
    let mut s = py(r#"
import errno
written = 0
try:
    with open("/tmp/big", "wb") as f:
        for _ in range(1024):
            f.write(b"\0" * (1 << 20))
            written += 1
except OSError as e:
    print(errno.errorcode[e.errno], written)
"#);
    s.limits.tmpfs_size_mb = 16;
    let r = run(&s);
    let out = r.stdout.trim();
    assert!(out.starts_with("ENOSPC "), "{r:?}");
    assert!(out[7..].parse::<u32>().unwrap() <= 16, "{r:?}");
}

#[test]
fn the_tmpfs_inode_cap_holds() {
    privileged();
    let mut s = py(r#"
import errno
n = 0
try:
    for n in range(100000):
        open(f"/work/f{n}", "w").close()
except OSError as e:
    print(errno.errorcode[e.errno], n)
"#);
    s.limits.tmpfs_inodes = 200;
    let r = run(&s);
    let (code, n) = r.stdout.trim().split_once(' ').expect(&r.stdout);
    assert_eq!(code, "ENOSPC", "{r:?}");
    assert!(n.parse::<u32>().unwrap() < 200, "{r:?}");
}

fn marker_processes(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) {
                found.push(format!("{}: {cmd}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

#[test]
fn a_double_forked_daemon_ignoring_sigterm_is_gone_after_the_run() {
    privileged();
    let marker = format!("98765{}", std::process::id());
    let s = py(&format!(
        r#"
import os, signal
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.execv("/bin/sleep", ["sleep", "{marker}"])
    os._exit(0)
os.wait()
import time; time.sleep(0.2)
print(len([p for p in os.listdir("/proc") if p.isdigit()]))
"#
    ));
    let session = run_with_env(&s, &[]);
    assert_eq!(
        session.result.stdout, "2\n",
        "the daemon was running: {:?}",
        session.result
    );
    assert_eq!(
        marker_processes(&marker),
        Vec::<String>::new(),
        "daemon survived the run"
    );
    assert_eq!(
        common::cgroups::of_runner(session.runner_pid),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn no_mounts_leak_to_the_host() {
    privileged();
    let mounts = || {
        let s = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mut v: Vec<String> = s
            .lines()
            .map(|l| l.split(' ').skip(4).take(1).collect())
            .collect();
        v.sort();
        v
    };
    let before = mounts();
    let r = run(&py("open('/work/x', 'w').write('x'); print(open('/proc/self/mountinfo').read().count('\\n') > 5)"));
    assert_eq!(r.stdout, "True\n", "{r:?}");
    assert_eq!(mounts(), before);
    let root_dir: Vec<_> = std::fs::read_dir("/run/pyth-on/root").unwrap().collect();
    assert!(
        root_dir.is_empty(),
        "the new-root mount point stays empty on the host"
    );
}

#[test]
fn killing_the_runner_takes_the_whole_run_down() {
    privileged();
    use pyth_on_sandbox::protocol::{self, RunnerFrame, ServerFrame};
    use std::io::Write;
    use std::process::{Command, Stdio};

    let marker = format!("87654{}", std::process::id());
    let s = py(&format!(
        "import os\nos.execv('/bin/sleep', ['sleep', '{marker}'])"
    ));
    let mut child = Command::new(env!("CARGO_BIN_EXE_pyth-on-runner"))
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let frame = protocol::encode_frame(&ServerFrame::Job(Box::new(s))).unwrap();
    child.stdin.take().unwrap().write_all(&frame).unwrap();
    let mut out = child.stdout.take().unwrap();
    let RunnerFrame::Ready(ready) = protocol::read_frame(&mut out).unwrap() else {
        panic!()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while marker_processes(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the sandboxed sleep never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL: no teardown in the runner
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !marker_processes(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "run survived its runner: {:?}",
            marker_processes(&marker)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The dead runner's cgroups, once empty (its init may still be exiting, or a zombie
    // waiting for the host's pid 1), are swept by the next runner.
    let deadline = Instant::now() + Duration::from_secs(5);
    let populated = |dir: &std::path::PathBuf| {
        std::fs::read_to_string(dir.join("cgroup.procs")).is_ok_and(|p| !p.trim().is_empty())
    };
    while common::cgroups::of_runner(ready.pid).iter().any(populated) {
        assert!(
            Instant::now() < deadline,
            "the dead run's cgroups stayed populated"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    run(&py("pass"));
    assert_eq!(
        common::cgroups::of_runner(ready.pid),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn a_runs_cpu_time_is_measured_with_its_children_and_a_sleep_costs_almost_none() {
    privileged();
    // Half a second of CPU in a child process, then the parent's own share.
    let busy = run(&py(r#"
import os, time
def spin(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
pid = os.fork()
if pid == 0:
    spin(0.3)
    os._exit(0)
spin(0.2)
os.waitpid(pid, 0)
"#));
    let idle = run(&py("import time; time.sleep(0.5)"));

    let busy_ms = busy.cpu_ms.expect("a finished run reports its CPU time");
    let idle_ms = idle.cpu_ms.expect("a finished run reports its CPU time");
    assert!(
        (500.0..2000.0).contains(&busy_ms),
        "0.5 s of CPU in two processes: {busy_ms} ms"
    );
    assert!(idle_ms < 300.0, "a sleep is not CPU time: {idle_ms} ms");
}
