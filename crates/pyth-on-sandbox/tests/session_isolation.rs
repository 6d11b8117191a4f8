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
