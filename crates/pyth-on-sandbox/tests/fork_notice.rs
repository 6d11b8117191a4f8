//! The notice of a forked run ([`pyth_on_sandbox::fork_server`]): the payload tells init on fd 7
//! that its program ended, before its exit, and init ends the run at once when nothing but
//! that exit is left. The notice is the user's to write too: these tests check that a false
//! one only ends the writer's own run, never lowers the CPU time a run is charged, and that a
//! program's own use of fd 7 is left alone.
#![allow(clippy::unwrap_used, reason = "tests panic on purpose")]
mod common;

use common::{privileged, run_in, Mode};
use pyth_on_sandbox::protocol::{JobSpec, OutputSpec};

/// Burns about `ms` of CPU time in the calling process.
const BURN: &str = "import time\ndef burn(ms):\n    end = time.process_time() + ms / 1000\n    while time.process_time() < end:\n        pass\n";

fn forked(code: &str) -> pyth_on_sandbox::JobResult {
    run_in(&common::py(code), Mode::Forked)
}

#[test]
fn a_false_notice_ends_only_the_writers_own_run_with_its_code() {
    privileged();
    let r = forked(
        "import os, sys, time\nprint('before', flush=True)\nos.write(7, b'code 5\\n')\ntime.sleep(3)\nprint('after')",
    );
    assert_eq!(r.exit_code, 5, "stderr: {}", r.stderr);
    assert_eq!(
        r.stdout, "before\n",
        "nothing of the run goes on after the notice"
    );
    assert!(
        r.duration_ms < 2000.0,
        "ended at the notice: {} ms",
        r.duration_ms
    );
}

#[test]
fn a_notice_never_lowers_the_cpu_time_a_run_is_charged() {
    privileged();
    // The work in the payload itself, in a thread, and in a child it waited for; then a
    // notice of its own (the program's end would send one as well).
    let cases = [
        ("the payload", "burn(300)"),
        (
            "a thread",
            "import threading\nt = threading.Thread(target=burn, args=(300,))\nt.start()\nt.join()",
        ),
        (
            "a child waited for",
            "import os\npid = os.fork()\nif pid == 0:\n    burn(300)\n    os._exit(0)\nos.waitpid(pid, 0)",
        ),
    ];
    for (what, work) in cases {
        let code = format!(
            "{BURN}{work}\nimport os\nos.write(7, b'code 0\\n')\nimport time\ntime.sleep(3)"
        );
        let r = forked(&code);
        assert_eq!(r.exit_code, 0, "{what}: stderr {}", r.stderr);
        let cpu = r.cpu_ms.unwrap();
        assert!(cpu >= 280.0, "{what}: charged {cpu} ms for 300 ms of work");
    }
}

#[test]
fn a_notice_that_is_not_one_line_with_a_code_is_ignored() {
    privileged();
    for notice in [
        "code 256\\n",
        "code -1\\n",
        "exit 0\\n",
        "code 1\\ncode 2\\n",
        "code 3",
    ] {
        let code =
            format!("import os, sys\nos.write(7, b'{notice}')\nprint('went on')\nsys.exit(4)");
        let r = forked(&code);
        assert_eq!(r.stdout, "went on\n", "{notice}: stderr {}", r.stderr);
        assert_eq!(r.exit_code, 4, "{notice}: the program's own end counts");
    }
}

#[test]
fn a_program_that_puts_its_own_file_on_fd_7_keeps_it_unchanged() {
    privileged();
    let mut spec: JobSpec = common::py(
        "import os\nfd = os.open('/work/out.txt', os.O_WRONLY | os.O_CREAT, 0o600)\nos.dup2(fd, 7)\nos.close(fd)\nos.write(7, b'data')\nprint('done')",
    );
    spec.output = Some(OutputSpec {
        patterns: vec!["out.txt".into()],
        max_files: 1,
        max_bytes: 1 << 10,
    });
    let r = run_in(&spec, Mode::Forked);
    assert_eq!(r.exit_code, 0, "stderr: {}", r.stderr);
    assert_eq!(r.stdout, "done\n");
    assert_eq!(r.files.len(), 1);
    assert_eq!(
        r.files[0].content, b"data",
        "no notice written into the program's file"
    );
}

#[test]
fn a_run_that_ends_by_its_notice_still_reports_output_written_just_before() {
    privileged();
    // stdout and stderr are closed before the notice: everything flushed arrives, in order.
    let r = forked("import sys\nprint('x' * 100000)\nprint('err', file=sys.stderr)\nsys.exit(2)");
    assert_eq!(r.exit_code, 2);
    assert_eq!(r.stdout.len(), 100_001);
    assert_eq!(r.stderr, "err\n");
}

#[test]
fn a_child_the_program_forked_that_ends_says_nothing_for_the_run() {
    privileged();
    // The child comes back out through the bootstrap too (its SystemExit): it must not end
    // the run with its code, even with SIGPIPE at its default in the parent.
    let r = forked(
        "import os, signal, sys, time\nsignal.signal(signal.SIGPIPE, signal.SIG_DFL)\npid = os.fork()\nif pid == 0:\n    sys.exit(3)\nos.waitpid(pid, 0)\ntime.sleep(0.2)\nprint('parent')\nsys.exit(4)",
    );
    assert_eq!(r.stdout, "parent\n", "stderr: {}", r.stderr);
    assert_eq!(r.exit_code, 4);
    assert_eq!(r.signal, None);
}
