//! Kernel-level escape tests, one per isolation guarantee. They need root; CI runs as root.

#![allow(clippy::unwrap_used, reason = "test helpers panic on purpose")]

mod common;

use common::{js, ok, privileged, probes, py, run, run_with_env};
use pyth_on_sandbox::protocol::EnvVar;

#[test]
fn python_hello_world_runs() {
    privileged();
    assert_eq!(ok(&py("print('hello')")), "hello\n");
}

#[test]
fn node_hello_world_runs_with_threads() {
    privileged();
    let code = r#"
        const { Worker } = require('worker_threads');
        const w = new Worker('require("worker_threads").parentPort.postMessage(6*7)', { eval: true });
        w.on('message', (m) => { console.log('hello', m); });
    "#;
    assert_eq!(ok(&js(code)), "hello 42\n");
}

#[test]
fn stdin_args_and_env_reach_the_program() {
    privileged();
    let mut s =
        py("import os, sys\nprint(sys.argv[1:], os.environ['GREETING'], sys.stdin.read().upper())");
    s.stdin = "from stdin".into();
    s.args = vec!["one".into(), "two words".into()];
    s.env = vec![EnvVar {
        name: "GREETING".into(),
        value: "hi".into(),
    }];
    assert_eq!(ok(&s), "['one', 'two words'] hi FROM STDIN\n");
    let mut s = js("process.stdout.write(process.argv.slice(2).join(',') + require('fs').readFileSync(0, 'utf8'))");
    s.stdin = "!".into();
    s.args = vec!["a".into()];
    assert_eq!(ok(&s), "a!");
}

#[test]
fn exit_code_and_stderr_are_reported() {
    privileged();
    let r = run(&py(
        "import sys\nprint('oops', file=sys.stderr)\nsys.exit(3)",
    ));
    assert_eq!(
        (r.exit_code, r.stderr.as_str(), r.timed_out),
        (3, "oops\n", false)
    );
    let r = run(&js("throw new Error('boom')"));
    assert_eq!(r.exit_code, 1);
    assert!(r.stderr.contains("boom"), "{}", r.stderr);
}

#[test]
fn host_environment_variables_do_not_leak() {
    privileged();
    let s = py("import os\nprint(sorted(os.environ))");
    let r = run_with_env(
        &s,
        &[("HOST_SECRET_MARKER", "x"), ("NODE_EXTRA_CA_CERTS", "/x")],
    )
    .result;
    assert!(
        !r.stdout.contains("HOST_SECRET_MARKER") && !r.stdout.contains("NODE_EXTRA"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("'PATH'"), "{}", r.stdout);
}

#[test]
fn there_is_no_network_only_loopback() {
    privileged();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = ok(&py(&probes::network(port)));
    assert_eq!(
        out,
        probes::NETWORK_SEEN,
        "the host listener on port {port} must be unreachable"
    );
}

#[test]
fn only_unix_ip_and_netlink_route_sockets_can_be_created() {
    privileged();
    assert_eq!(
        ok(&py(probes::SOCKET_FAMILIES)),
        probes::socket_families_seen()
    );
}

#[test]
fn files_outside_work_and_tmp_cannot_be_written() {
    privileged();
    probes::check_writes(&ok(&py(probes::WRITES)));
}

#[test]
fn the_working_directory_is_empty_and_the_program_file_cannot_be_changed() {
    privileged();
    let code = r#"
import os
res = [os.getcwd(), os.listdir("."), __file__]
for attempt in (lambda: open(__file__, "a"), lambda: os.unlink(__file__),
                lambda: os.chmod(__file__, 0o666), lambda: open("/code/x.py", "w"),
                lambda: os.rename(__file__, "/code/y.py")):
    try:
        attempt(); res.append("ok")
    except OSError as e:
        res.append(e.errno)
open("scratch", "w").write("x")
res.append(os.listdir("."))
print(res)
"#;
    // EACCES = 13, EPERM = 1
    assert_eq!(
        ok(&py(code)),
        "['/work', [], '/code/main.py', 13, 13, 1, 13, 13, ['scratch']]\n"
    );
}

#[test]
fn host_processes_are_invisible() {
    privileged();
    assert_eq!(ok(&py(probes::PROCESSES)), probes::PROCESSES_SEEN);
}

#[test]
fn the_program_is_unprivileged_and_under_seccomp() {
    privileged();
    assert_eq!(ok(&py(probes::PRIVILEGES)), probes::PRIVILEGES_SEEN);
}

#[test]
fn the_program_runs_under_exactly_one_seccomp_filter_in_every_mode() {
    privileged();
    // One program holds the whole policy; in a forked run it arrived through the fork
    // server's pipe and parser, so a second (or a missing) filter would show here.
    let status = "print([l.split()[1] for l in open('/proc/self/status') \
                  if l.startswith(('Seccomp:', 'Seccomp_filters:'))])";
    assert_eq!(ok(&py(status)).trim(), "['2', '1']");
}

#[test]
fn dangerous_syscalls_fail_with_eperm() {
    privileged();
    probes::check_syscalls(&ok(&py(probes::SYSCALLS)));
}

/// Runs machine code from an executable mapping via ctypes.
fn run_machine_code(hex: &str) -> pyth_on_sandbox::JobResult {
    run(&py(&probes::machine_code(hex)))
}

#[test]
fn a_32_bit_int80_syscall_kills_the_process() {
    privileged();
    let r = run_machine_code(probes::INT80_GETPID);
    assert_eq!(
        (r.stdout.as_str(), r.signal, r.exit_code),
        ("calling\n", Some(31), 159),
        "{r:?}"
    );
}

#[test]
fn an_x32_syscall_kills_the_process() {
    privileged();
    // mov eax, 0x40000027 (x32 getpid); syscall; ret
    let r = run_machine_code("b8270000400f05c3");
    assert_eq!(
        (r.stdout.as_str(), r.signal),
        ("calling\n", Some(31)),
        "{r:?}"
    );
}

#[test]
fn native_machine_code_still_runs() {
    privileged();
    // mov eax, 39 (getpid); syscall; ret  -> pid 2 inside the sandbox
    let r = run_machine_code("b8270000000f05c3");
    assert_eq!(r.stdout, "calling\n2\n", "{r:?}");
}

#[test]
fn a_run_has_a_session_and_process_group_of_its_own() {
    // Else kill(0, SIGCONT) from the run would reach the server's process group on the host.
    privileged();
    let r = common::run(&py(
        "import os\nprint(os.getsid(0) == os.getpid() == os.getpgid(0))",
    ));
    assert_eq!(r.stdout, "True\n", "stderr: {}", r.stderr);
}

#[test]
fn a_missing_interpreter_is_reported_as_a_setup_failure() {
    privileged();
    let mut s = py("print(1)");
    s.interpreter = "/usr/bin/no-such-python".into();
    match common::final_frame(&s) {
        pyth_on_sandbox::RunnerFrame::Failed { error } => {
            // A fork server refuses a job for another interpreter than its own.
            let forked = common::env_mode() == common::Mode::Forked;
            assert!(
                (error.contains("execve") || forked) && error.contains("no-such-python"),
                "{error}"
            );
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[test]
fn an_invalid_job_is_refused_before_anything_is_created() {
    let mut s = py("print(1)");
    s.ro_mounts.push("/usr/../root".into());
    match common::final_frame(&s) {
        pyth_on_sandbox::RunnerFrame::Failed { error } => {
            assert!(error.contains("invalid job"), "{error}")
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[test]
fn a_large_stdin_is_streamed_while_output_is_read() {
    privileged();
    // 2 MiB in, 2 MiB out: larger than both pipe buffers, so the supervisor must feed stdin and
    // drain stdout at the same time.
    let mut s = py("import sys\nsys.stdout.write(sys.stdin.read())");
    s.stdin = "0123456789abcdef".repeat(128 << 10);
    s.limits.max_output_bytes = 4 << 20;
    let r = run(&s);
    assert_eq!(r.exit_code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.len(), s.stdin.len());
    assert!(r.stdout == s.stdin);
}

/// What `/proc/self/status` says about `field` in this (host) process.
fn host_status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

#[test]
fn speculation_is_force_mitigated_wherever_the_kernel_offers_the_control() {
    privileged();
    let code = r#"
for line in open("/proc/self/status"):
    if line.startswith(("Speculation_Store_Bypass:", "SpeculationIndirectBranch:")):
        print(line.split(":", 1)[1].strip())
"#;
    let out = ok(&py(code));
    let seen: Vec<&str> = out.lines().collect();
    // "thread vulnerable" / "conditional enabled" mean the kernel lets a task opt in: the
    // sandbox must have. Anything else (mitigation off globally, always on, not affected) is
    // the kernel's answer for every task, the sandbox's included.
    let expect = |host: String| match host.as_str() {
        "thread vulnerable" => "thread force mitigated".to_string(),
        "conditional enabled" => "conditional force disabled".to_string(),
        _ => host,
    };
    let want = [
        expect(host_status("Speculation_Store_Bypass")),
        expect(host_status("SpeculationIndirectBranch")),
    ];
    assert_eq!(seen, want, "host: {want:?}");
}
