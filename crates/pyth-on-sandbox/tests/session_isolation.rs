//! The isolation suite against a session's sandbox: the same escape probes as single runs
//! (`common::probes`), run as cells of one live Python session, as root against the real
//! runner. A session lives for minutes and runs many cells, so its sandbox must hold every
//! guarantee a single-use one does, and a probe must not weaken the next.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use common::kernel::{open, Kernel};
use common::probes;

/// Runs `code` as a cell; its stdout, the cell having raised nothing.
fn ok(k: &mut Kernel, code: &str) -> String {
    let cell = k.cell(code);
    assert!(cell.result.error.is_none(), "{cell:?}");
    cell.stdout
}

#[test]
fn every_escape_probe_of_the_run_suite_fails_in_one_session_cell_after_cell() {
    let mut k = open(common::py(""));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    assert_eq!(ok(&mut k, &probes::network(port)), probes::NETWORK_SEEN);
    assert_eq!(
        ok(&mut k, probes::SOCKET_FAMILIES),
        probes::socket_families_seen()
    );
    probes::check_writes(&ok(&mut k, probes::WRITES));
    assert_eq!(ok(&mut k, probes::PROCESSES), probes::PROCESSES_SEEN);
    assert_eq!(ok(&mut k, probes::PRIVILEGES), probes::PRIVILEGES_SEEN);
    probes::check_syscalls(&ok(&mut k, probes::SYSCALLS));
    // The same again: nothing a cell did loosened the sandbox for the next one.
    assert_eq!(ok(&mut k, probes::PRIVILEGES), probes::PRIVILEGES_SEEN);
    k.close();
}

#[test]
fn a_forbidden_32_bit_syscall_kills_the_kernel_and_ends_the_session() {
    let mut k = open(common::py(""));
    let cell = k.cell(&probes::machine_code(probes::INT80_GETPID));
    assert_eq!(cell.stdout, "calling\n", "{cell:?}");
    assert!(cell.result.session_ended, "{cell:?}");
    let ended = cell.ended.expect("the session's final status");
    assert_eq!(ended.signal, Some(31), "SIGSYS: {ended:?}");
    k.close();
}

#[test]
fn a_session_kernel_cannot_reach_its_supervisors_descriptors_or_the_host() {
    let mut k = open(common::py(""));
    // The kernel's own pipes are 3 (cells in) and 7 (results out); nothing else of the
    // supervisor is open in it (the directory listing's own descriptor is gone by the time
    // its links are read).
    let code = "import os\nfds = []\nfor f in sorted(os.listdir('/proc/self/fd'), key=int):\n\
                \x20   try: fds.append((int(f), os.readlink(f'/proc/self/fd/{f}').split(':')[0]))\n\
                \x20   except OSError: pass\nprint(fds)";
    let out = ok(&mut k, code);
    assert_eq!(
        out,
        "[(0, 'pipe'), (1, 'pipe'), (2, 'pipe'), (3, 'pipe'), (7, 'pipe')]\n"
    );
    k.close();
}

/// The session's group in the cpu hierarchy (v1 `cpu.shares`, or v2 `cpu.weight`), found by
/// its runner's pid (groups are named `<runner pid>-<nanos>`).
fn cpu_weight_file(runner_pid: i32) -> Option<std::path::PathBuf> {
    let prefix = format!("{runner_pid}-");
    let mut todo = vec![(std::path::PathBuf::from("/sys/fs/cgroup"), 0)];
    while let Some((dir, depth)) = todo.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if !path.is_dir() || path.is_symlink() {
                continue;
            }
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                for name in ["cpu.shares", "cpu.weight"] {
                    if path.join(name).exists() {
                        return Some(path.join(name));
                    }
                }
            }
            if depth < 8 {
                todo.push((path, depth + 1));
            }
        }
    }
    None
}

#[test]
fn an_idle_session_has_the_least_cpu_weight_and_a_running_cell_the_default() {
    use pyth_on_sandbox::protocol::{self, CellSpec, RunnerFrame, ServerFrame};
    let mut k = open(common::py(""));
    let Some(file) = cpu_weight_file(k.runner_pid) else {
        panic!("no cpu controller for the session's group: this machine must offer one");
    };
    let read = || std::fs::read_to_string(&file).unwrap().trim().to_string();
    let idle = read();
    assert!(["2", "1"].contains(&idle.as_str()), "idle weight {idle}");
    let frame = ServerFrame::Cell(CellSpec {
        code: "import time\ntime.sleep(1)".into(),
        timeout_ms: 10_000,
    });
    protocol::write_frame(k.stdin.as_mut().unwrap(), &frame).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let running = read();
    assert!(
        ["1024", "100"].contains(&running.as_str()),
        "cell weight {running}"
    );
    loop {
        if let RunnerFrame::CellResult(_) = protocol::read_frame(&mut k.stdout).unwrap() {
            break;
        }
    }
    assert_eq!(read(), idle, "idle again after the cell");
    k.close();
}
