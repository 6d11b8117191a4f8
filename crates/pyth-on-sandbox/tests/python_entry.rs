//! The Python entry (`-S` plus `warm/run.py`) behaves like `python3 main.py` as far as a
//! program can tell from its output and exit status: each program below runs in the sandbox
//! (cold and pre-started) and under the host's own `/usr/bin/python3 -I main.py`, and the two
//! must agree. As root (the sandbox needs it).
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use common::{privileged, run_in, Mode};

/// `code` under the host interpreter, as a file called `main.py`: stdout, stderr (with the
/// file's directory replaced by `/code`), exit status.
fn host(code: &str) -> (String, String, i32) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let main = dir.join("main.py");
    std::fs::write(&main, code).unwrap();
    let out = std::process::Command::new("/usr/bin/python3")
        .arg("-I")
        .arg(&main)
        .current_dir(dir)
        .env_clear()
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(dir.to_str().unwrap(), "/code");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
        out.status.code().unwrap_or(-1),
    )
}

/// `text` with every `0x...` address replaced by `0x?` (object reprs differ between runs).
fn without_addresses(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        out.push_str("0x?");
        rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out + rest
}

/// Runs `code` three ways and asserts they agree; returns what they printed.
fn same_as_python3(code: &str) -> (String, String, i32) {
    let mut expected = host(code);
    expected.1 = without_addresses(&expected.1);
    for mode in [Mode::Cold, Mode::Prestarted] {
        let r = run_in(&common::py(code), mode);
        assert_eq!(
            (
                r.stdout.as_str(),
                without_addresses(&r.stderr).as_str(),
                r.exit_code
            ),
            (expected.0.as_str(), expected.1.as_str(), expected.2),
            "{mode:?} differs from python3 main.py for {code:?}"
        );
    }
    expected
}

#[test]
fn exit_quit_and_sys_exit_end_a_program_with_the_status_python3_gives() {
    privileged();
    assert_eq!(same_as_python3("print('a')\nexit(3)\nprint('b')\n").2, 3);
    assert_eq!(same_as_python3("quit()\n").2, 0);
    assert_eq!(same_as_python3("import sys\nsys.exit()\n").2, 0);
    assert_eq!(same_as_python3("raise SystemExit(-1)\n").2, 255);
    assert_eq!(same_as_python3("raise SystemExit(True)\n").2, 1);
    let (_, err, code) = same_as_python3("import sys\nsys.exit('bye now')\n");
    assert_eq!((err.as_str(), code), ("bye now\n", 1));
}

#[test]
fn atexit_handlers_and_non_daemon_threads_finish_before_the_exit() {
    privileged();
    let code = r#"
import atexit, threading, time
atexit.register(lambda: print("atexit ran"))
def late():
    time.sleep(0.05)
    print("thread finished")
threading.Thread(target=late).start()
print("main done")
"#;
    let (out, _, status) = same_as_python3(code);
    assert_eq!(
        (out.as_str(), status),
        ("main done\nthread finished\natexit ran\n", 0)
    );
    // An exception in a handler is reported and the others still run.
    let code = "import atexit\natexit.register(print, 'second')\natexit.register(lambda: 1 / 0)\n";
    let (out, err, _) = same_as_python3(code);
    assert_eq!(out, "second\n");
    assert!(err.contains("ZeroDivisionError"), "{err}");
    // A handler registered without the program importing atexit itself.
    let code = "import weakref\nclass A: pass\na = A()\nweakref.finalize(a, print, 'finalized')\n";
    assert_eq!(same_as_python3(code).0, "finalized\n");
}

#[test]
fn buffered_output_and_an_uncaught_error_reach_the_streams_as_with_python3() {
    privileged();
    let code = "import sys\nsys.stdout.write('no newline')\nsys.stderr.write('err')\n";
    assert_eq!(same_as_python3(code).0, "no newline");
    let code = "def f():\n    raise KeyError('k')\nprint('before')\nf()\n";
    let (out, err, status) = same_as_python3(code);
    assert_eq!((out.as_str(), status), ("before\n", 1));
    assert!(err.ends_with("KeyError: 'k'\n"), "{err}");
}

#[test]
fn a_run_sees_the_standard_library_but_not_the_hosts_site_packages() {
    privileged();
    for mode in [Mode::Cold, Mode::Prestarted] {
        let r = run_in(
            &common::py("import sys, json, sqlite3\nprint([p for p in sys.path if 'packages' in p])\nhelp\n"),
            mode,
        );
        assert_eq!(
            (r.stdout.as_str(), r.exit_code),
            ("[]\n", 0),
            "{}",
            r.stderr
        );
    }
}
