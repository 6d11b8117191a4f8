//! The fork server ([`pyth_on_sandbox::fork_server`]): Python runs forked from one interpreter
//! into prepared single-use sandboxes. The kernel-level suites also run whole in this mode
//! (`PYTH_ON_TEST_PREPARED=fork`, see `scripts/test`); these tests check what is particular
//! to it: nothing of one run reaches the next or stays in the server, what the runs share.
#![allow(clippy::unwrap_used, reason = "tests panic on purpose")]
mod common;
#[path = "fork_server/library.rs"]
mod library;
#[path = "fork_server/serving.rs"]
mod serving;

use std::io::{Read, Seek, SeekFrom};

use common::{fork::fork_server, fork::fork_server_through, privileged, run_in, Mode};
use pyth_on_sandbox::protocol::{Bind, EnvVar, ForkServerRef, RunnerFrame};

fn forked(code: &str) -> pyth_on_sandbox::JobResult {
    let r = run_in(&common::py(code), Mode::Forked);
    assert_eq!(r.exit_code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

#[test]
fn a_forked_run_prints_and_exits_with_its_code() {
    privileged();
    let r = run_in(
        &common::py("import sys\nprint('hello')\nsys.exit(3)"),
        Mode::Forked,
    );
    assert_eq!(r.stdout, "hello\n", "stderr: {}", r.stderr);
    assert_eq!(r.exit_code, 3);
}

#[test]
fn what_one_run_changes_in_the_interpreter_is_gone_in_the_next() {
    privileged();
    forked("import json, sys\njson.left_behind = 'A'\nsys.left_behind = 'A'\nimport csv\n");
    let r = forked(
        "import json, sys\nprint(hasattr(json, 'left_behind'), hasattr(sys, 'left_behind'))",
    );
    assert_eq!(r.stdout, "False False\n");
}

#[test]
fn random_numbers_differ_from_run_to_run() {
    privileged();
    let code = "import os, random\nprint(random.random(), os.urandom(8).hex())";
    let (a, b) = (forked(code).stdout, forked(code).stdout);
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split(' ').collect(), b.split(' ').collect());
    assert_ne!(a[0], b[0], "random is re-seeded in every child");
    assert_ne!(a[1], b[1]);
}

#[test]
fn the_string_hash_seed_is_shared_by_the_runs_of_one_fork_server() {
    // Documented in docs/SECURITY.md ("The fork server"): the price of forking. A fork server
    // is replaced after a number of runs, which draws a new seed.
    privileged();
    let code = "print(hash('pyth-on'))";
    assert_eq!(forked(code).stdout, forked(code).stdout);
}

#[test]
fn a_forked_run_holds_only_its_standard_descriptors() {
    privileged();
    let r = forked("import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))");
    assert_eq!(
        r.stdout, "[0, 1, 2, 3, 7]\n",
        "3 is the listing's own, 7 the notice pipe (tests/fork_notice.rs)"
    );
}

#[test]
fn a_forked_run_reads_its_own_proc_files_like_an_execd_one() {
    // A uid change leaves a process non-dumpable (its /proc files root's) until it execs.
    privileged();
    let code = "import os\nenv = open('/proc/self/environ', 'rb').read()\nprint(b'PATH=' in env, os.access('/proc/self/mem', os.R_OK))";
    assert_eq!(forked(code).stdout, "True True\n");
}

#[test]
fn a_forked_run_is_in_namespaces_of_its_own() {
    privileged();
    let code = "import os, socket\nprint([os.readlink(f'/proc/self/ns/{n}') for n in ('net', 'mnt', 'pid', 'ipc', 'uts')], socket.if_nameindex())";
    let (a, b) = (forked(code).stdout, forked(code).stdout);
    assert_ne!(a, b, "two runs share no namespace");
    for ns in ["net", "mnt", "pid", "ipc", "uts"] {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert!(
            !a.contains(&*host.to_string_lossy()),
            "{ns} is the host's: {a}"
        );
    }
    assert!(a.ends_with("[(1, 'lo')]\n"), "{a}");
}

#[test]
fn a_forked_run_has_no_privilege_and_sees_no_parent() {
    privileged();
    let code = "import os\n\
        s = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\n\
        print([s[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp')])\n\
        print(os.getuid() != 0, os.getgid() != 0, os.getgroups(), os.getppid(), os.getpid())";
    let r = forked(code);
    let zero = "0000000000000000";
    let caps = format!("['{zero}', '{zero}', '{zero}', '{zero}', '{zero}', '1', '2']");
    assert_eq!(r.stdout, format!("{caps}\nTrue True [] 0 2\n"));
}

#[test]
fn a_forked_run_cannot_see_signal_or_trace_the_sandboxs_init() {
    privileged();
    let code = "import ctypes, os\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        try:\n    os.kill(1, 0)\n    print('signal ALLOWED')\nexcept PermissionError:\n    print('signal refused')\n\
        print(os.path.exists('/proc/1'), sorted(p for p in os.listdir('/proc') if p.isdigit()) == [str(os.getpid())])\n\
        print('trace', 'ALLOWED' if libc.ptrace(16, 1, None, None) == 0 else ctypes.get_errno())";
    assert_eq!(forked(code).stdout, "signal refused\nFalse True\ntrace 1\n");
}

#[test]
fn a_forked_run_has_only_the_environment_it_was_given() {
    privileged();
    let mut s = common::py("import os\nprint(sorted(os.environ))\nprint(os.environ['MINE'])");
    s.env = vec![EnvVar {
        name: "MINE".into(),
        value: "yes".into(),
    }];
    let r = run_in(&s, Mode::Forked);
    assert_eq!(
        r.stdout,
        "['HOME', 'LANG', 'MINE', 'PATH', 'PYTHONDONTWRITEBYTECODE', 'PYTHONUNBUFFERED', 'TMPDIR']\nyes\n",
        "stderr: {}",
        r.stderr
    );
}

#[test]
fn a_package_environment_bound_into_the_sandbox_is_importable() {
    privileged();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pkgmod.py"), "VALUE = 42\n").unwrap();
    let mut s = common::py("import sys, pkgmod\nprint(pkgmod.VALUE, sys.path[1])");
    s.binds = vec![Bind::read_only(dir.path(), "/pkg/python/site-packages")];
    s.env = vec![EnvVar {
        name: "PYTHONPATH".into(),
        value: "/pkg/python/site-packages".into(),
    }];
    let r = run_in(&s, Mode::Forked);
    assert_eq!(
        r.stdout, "42 /pkg/python/site-packages\n",
        "stderr: {}",
        r.stderr
    );
}

#[test]
fn the_fork_server_keeps_nothing_of_a_program_it_forked() {
    privileged();
    let marker = format!("pyth-on-marker-{}", std::process::id());
    let code = format!("secret = '{marker}' * 2\nprint(len(secret))");
    forked(&code);
    forked("print('another run')");
    let server = fork_server();
    assert!(
        !memory_contains(server.pid, marker.as_bytes()),
        "the fork server's memory holds the program of a run"
    );
    assert!(
        memory_contains(server.pid, b"_pyth_on_zygote"),
        "the scan reads the server"
    );
}

#[test]
fn a_fork_server_that_is_gone_gives_a_clear_set_up_failure() {
    privileged();
    let mut s = common::py("print(1)");
    s.prestart = true;
    s.fork_server = Some(ForkServerRef {
        socket: "pyth-on-test-no-such-fork-server".into(),
        pid: 1,
        interpreter: "/usr/bin/python3".into(),
    });
    let mut profile = s.clone();
    profile.code.clear();
    match common::frame_prepared(&profile, &s) {
        RunnerFrame::Failed { error } => assert!(error.contains("fork server: connect"), "{error}"),
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[test]
fn a_request_for_a_sandbox_that_shares_the_fork_servers_pid_namespace_is_refused() {
    privileged();
    let server = fork_server();
    // A root client that hands over a pidfd of itself: a process in the host's PID namespace,
    // the fork server's own, instead of a sandbox's init.
    let client = r#"
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\0" + sys.argv[1])
fds = [os.pidfd_open(os.getpid())] + [os.open("/dev/null", os.O_RDWR) for _ in range(8)]
# uid gid nofile fsize cpu cgroups main (fork_server.rs, `request_line`)
socket.send_fds(s, [b"1000 1000 64 1048576 5 0 /code/main.py"], fds)
print(s.recv(4096).decode().strip())
"#;
    let out = root_client(client, &server.socket);
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(
        answer.contains("error") && answer.contains("PID namespace of its own"),
        "{answer} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The fork server is still in its own namespace and serving.
    assert_eq!(forked("print(7)").stdout, "7\n");
}

/// Runs `client` (Python, as root, like any process of the host) with the fork server's
/// socket name as its argument.
fn root_client(client: &str, socket: &str) -> std::process::Output {
    std::process::Command::new("/usr/bin/python3")
        .args(["-c", client, socket])
        .output()
        .unwrap()
}

/// Runs `code` in a sandbox prepared for `server` (a fork server of the test's own).
fn run_through(server: ForkServerRef, code: &str) -> pyth_on_sandbox::JobResult {
    run_through_with(server, code, Vec::new())
}

/// [`run_through`] with `binds` into the sandbox.
fn run_through_with(
    server: ForkServerRef,
    code: &str,
    binds: Vec<Bind>,
) -> pyth_on_sandbox::JobResult {
    let mut s = common::py(code);
    s.binds = binds;
    s.prestart = true;
    s.fork_server = Some(server);
    let mut profile = s.clone();
    profile.code.clear();
    match common::frame_prepared(&profile, &s) {
        RunnerFrame::Result(r) => *r,
        other => panic!("no result: {other:?}"),
    }
}

/// Whether `needle` is in any readable mapping of process `pid` (read as root).
fn memory_contains(pid: i32, needle: &[u8]) -> bool {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (range, perms) = (fields.next().unwrap(), fields.next().unwrap());
        if !perms.starts_with('r') || line.ends_with("[vvar]") || line.ends_with("[vsyscall]") {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut buf = vec![0u8; (end - start) as usize];
        if mem.seek(SeekFrom::Start(start)).is_err() || mem.read_exact(&mut buf).is_err() {
            continue;
        }
        if buf.windows(needle.len()).any(|w| w == needle) {
            return true;
        }
    }
    false
}

/// Prints where a hello-world's time goes, pre-started against forked (`--ignored`).
#[test]
#[ignore = "a measurement, not a check"]
fn print_latency_prestarted_vs_forked() {
    privileged();
    for mode in [
        Mode::Prestarted,
        Mode::Forked,
        Mode::Prestarted,
        Mode::Forked,
    ] {
        let mut walls = Vec::new();
        let mut t = Vec::new();
        for _ in 0..60 {
            let talk = common::talk_in(&common::py("print('hello')"), mode);
            let r = talk.result().clone();
            walls.push(talk.last_at.as_secs_f64() * 1000.0);
            t.push((
                r.timings.setup_ms,
                r.timings.run_ms,
                r.timings.total_ms,
                r.timings.prepare_ms,
            ));
        }
        walls.sort_by(f64::total_cmp);
        let med = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "{mode:?}: job->result p50 {:.2} ms; setup {:.2} run {:.2} total {:.2} prepare {:.2}",
            walls[walls.len() / 2],
            med(t.iter().map(|x| x.0).collect()),
            med(t.iter().map(|x| x.1).collect()),
            med(t.iter().map(|x| x.2).collect()),
            med(t.iter().map(|x| x.3).collect()),
        );
    }
}

#[test]
fn capabilities_are_cleared_even_when_the_server_was_started_with_inheritable_ones_and_securebits()
{
    // Without an explicit capset, setresuid under SECBIT_NO_SETUID_FIXUP keeps every
    // capability, and an inheritable set survives it.
    privileged();
    let (server, _guard) = fork_server_through(&[
        "setpriv",
        "--inh-caps=+sys_admin,+net_admin",
        "--securebits=+no_setuid_fixup",
    ]);
    let r = run_through(
        server,
        "s = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\nprint([s[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')])",
    );
    let zero = "'0000000000000000'";
    assert_eq!(
        r.stdout,
        format!("[{zero}, {zero}, {zero}, {zero}, {zero}]\n"),
        "stderr: {}",
        r.stderr
    );
}

#[test]
fn a_forked_run_finds_nothing_of_the_server_in_its_interpreter() {
    // Neither other runs in flight (the server's table of payloads), nor its request, nor the
    // directories its imports listed.
    privileged();
    let code = "import sys\n\
        f, seen = sys._getframe(), []\n\
        while f is not None:\n    seen += [(k, v) for k, v in f.f_locals.items() if k in ('children', 'request', 'fds')]\n    f = f.f_back\n\
        print([v for k, v in seen if v])\n\
        print([k for k in sys.path_importer_cache if not k.startswith('/usr/lib/python3')])";
    assert_eq!(forked(code).stdout, "[]\n[]\n");
}

#[test]
fn the_fork_server_imports_nothing_from_the_directory_it_was_started_in() {
    // A module planted where the server runs (its data directory's parent, say) must never be
    // imported by the root fork server.
    privileged();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("imported");
    for module in [
        "ctypes", "socket", "select", "json", "random", "resource", "fcntl",
    ] {
        std::fs::write(
            dir.path().join(format!("{module}.py")),
            format!(
                "open({:?}, 'a').write('{module} ')\n",
                marker.display().to_string()
            ),
        )
        .unwrap();
    }
    let cd = format!("cd '{}' && exec \"$0\"", dir.path().display());
    let (server, _guard) = fork_server_through(&["sh", "-c", &cd]);
    let r = run_through(server, "import json, random\nprint('ran')");
    assert_eq!(r.stdout, "ran\n", "stderr: {}", r.stderr);
    assert!(
        !marker.exists(),
        "imported from the working directory: {:?}",
        std::fs::read_to_string(&marker)
    );
}

#[test]
fn the_warm_up_before_the_job_leaves_no_module_loader_or_output_a_program_can_see() {
    privileged();
    let r = forked(
        "import gc, sys\n\
         main = sys.modules['__main__']\n\
         mains = [o for o in gc.get_objects() if type(o) is type(sys) and o.__name__ == '__main__']\n\
         loaders = [o for o in gc.get_objects()\n\
                    if type(o).__name__ == 'SourceFileLoader' and o.name == '__main__']\n\
         print(len(mains), mains[0] is main, len(loaders), loaders[0] is main.__loader__)\n",
    );
    assert_eq!(r.stdout, "1 True 1 True\n", "stderr: {}", r.stderr);
    assert_eq!(r.stderr, "");
}
