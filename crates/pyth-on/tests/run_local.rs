//! `pyth-on run --local FILE`: a file run in the sandbox on this machine without a server (the
//! tests run as root, as CI does): its output, stdin, arguments and exit code pass through, and
//! it is as confined as a server's run (no host secrets, no network, its own process tree).
#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::bin;
use common::server::text;

/// `pyth-on run --local FILE -- ARGS` on `source` (named `name`) with `stdin`.
fn local(name: &str, source: &str, args: &[&str], stdin: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, source).unwrap();
    let mut child = Command::new(bin())
        .args(["run", "--local"])
        .arg(&file)
        .arg("--")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_local_run_passes_output_stdin_arguments_and_the_exit_code_through() {
    let source = "import sys\nprint('got', sys.argv[1:], input())\nsys.exit(4)\n";

    let out = local("prog.py", source, &["a", "b"], "from stdin\n");

    assert_eq!(
        text(&out.stdout),
        "got ['a', 'b'] from stdin\n",
        "{}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(4));
    let js = local("prog.js", "console.log(6 * 7)", &[], "");
    assert_eq!(text(&js.stdout), "42\n", "{}", text(&js.stderr));
}

#[test]
fn a_local_run_is_confined_like_a_servers() {
    let source = "import os, socket\n\
        print('shadow', os.path.exists('/etc/shadow'))\n\
        print('uid', os.getuid() != 0)\n\
        print('pids', len([p for p in os.listdir('/proc') if p.isdigit()]) < 5)\n\
        s = socket.socket()\n\
        s.settimeout(2)\n\
        try:\n    s.connect(('1.1.1.1', 80)); print('net open')\n\
        except OSError:\n    print('net closed')\n";

    let out = local("probe.py", source, &[], "");

    assert_eq!(
        text(&out.stdout),
        "shadow False\nuid True\npids True\nnet closed\n",
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_local_run_writes_nothing_of_its_own_on_the_programs_stderr() {
    for _ in 0..3 {
        let out = local("quiet.py", "print('ok')\n", &[], "");

        assert_eq!(text(&out.stdout), "ok\n");
        assert_eq!(text(&out.stderr), "", "stderr must be the program's alone");
        assert_eq!(out.status.code(), Some(0));
    }
}
