//! `pyth-on session` as a user types it, against a real `pyth-on serve` and real sandboxes:
//! a session opened, its state kept between `exec`s, listed and ended; JavaScript sessions and
//! code from standard input; a cell that raises exiting non-zero; a busy session refused;
//! image results saved only with `--output-dir`; output streamed while the cell runs; Ctrl-C
//! interrupting the cell; unknown ids said plainly.
#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::server::{server, text};
use pyth_on_types::{CellResponse, SessionInfo};

/// The uids this file's servers run sessions under start here.
const UIDS: u32 = 1_780_000_000;

#[tokio::test]
async fn a_session_keeps_its_state_between_execs_is_listed_and_ends_with_rm() {
    let server = server(UIDS, "session").await;
    let work = server.work("state");
    let id = server.new_session(&[]);
    assert_eq!(id.len(), 36, "the id alone is printed: {id:?}");

    assert_eq!(server.ok(&work, &["exec", &id, "x = 41"]), "");
    assert_eq!(server.ok(&work, &["exec", &id, "x + 1"]), "42\n");
    assert_eq!(server.ok(&work, &["exec", &id, "print('a'); x"]), "a\n41\n");

    let listed = server.ok(&work, &["ls"]);
    assert!(listed.starts_with("ID"), "{listed}");
    assert!(
        listed.contains(&id) && listed.contains("python"),
        "{listed}"
    );

    server.ok(&work, &["rm", &id]);
    assert!(!server.ok(&work, &["ls", "--json"]).contains(&id));
    let out = server.run(&work, &["exec", &id, "x"], "");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains(&format!("no open session {id}")),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn a_javascript_session_opened_with_json_runs_code_read_from_standard_input() {
    let server = server(UIDS, "session").await;
    let work = server.work("js");
    let out = server.ok(
        &work,
        &["new", "--language", "js", "--memory-mb", "128", "--json"],
    );
    let info: SessionInfo = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (info.language.as_str(), info.memory_mb),
        ("javascript", 128)
    );
    let id = info.id.to_string();

    let out = server.run(
        &work,
        &["exec", &id, "-"],
        "var n = 20;\nconsole.log('hi');\n",
    );
    assert_eq!(text(&out.stdout), "hi\n", "{}", text(&out.stderr));
    std::fs::write(work.join("cell.js"), "n * 2 + 2").unwrap();
    assert_eq!(
        server.ok(&work, &["exec", &id, "--file", "cell.js"]),
        "42\n"
    );
}

#[tokio::test]
async fn a_cell_that_raises_exits_1_with_its_traceback_and_the_session_goes_on() {
    let server = server(UIDS, "session").await;
    let work = server.work("raise");
    let id = server.new_session(&["--env", "GREETING=hello there"]);
    let out = server.run(&work, &["exec", &id, "print('before'); 1 / 0"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "before\n");
    assert!(
        text(&out.stderr).contains("ZeroDivisionError"),
        "{}",
        text(&out.stderr)
    );

    let code = "import os; os.environ['GREETING']";
    assert_eq!(server.ok(&work, &["exec", &id, code]), "'hello there'\n");
    let out = server.run(
        &work,
        &["exec", &id, "--json", "raise ValueError('no')"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let answer: CellResponse = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer.error.unwrap().name, "ValueError");
}

#[tokio::test]
async fn image_results_are_saved_only_when_an_output_directory_is_given() {
    let server = server(UIDS, "session").await;
    let work = server.work("images");
    let id = server.new_session(&[]);
    let define = "class Img:\n    def _repr_png_(self):\n        return b'\\x89PNG fake'\n";
    server.ok(&work, &["exec", &id, define]);

    let out = server.run(&work, &["exec", &id, "Img()"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--output-dir"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&work).unwrap().count(),
        0,
        "nothing saved"
    );

    for _ in 0..2 {
        server.ok(&work, &["exec", &id, "--output-dir", "plots", "Img()"]);
    }
    assert_eq!(
        std::fs::read(work.join("plots/result-1.png")).unwrap(),
        b"\x89PNG fake"
    );
    assert!(
        work.join("plots/result-2.png").exists(),
        "a second image never replaces the first"
    );
}

#[tokio::test]
async fn the_output_of_a_cell_streams_to_stdout_while_it_runs() {
    let server = server(UIDS, "session").await;
    let work = server.work("stream");
    let id = server.new_session(&[]);
    let code = "import time\nprint('tick', flush=True)\ntime.sleep(3)\nprint('done')";
    let started = Instant::now();
    let mut child = server
        .command(&work, &["exec", &id, code])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first, "tick\n");
    let first_after = started.elapsed();
    assert!(
        first_after < Duration::from_secs(2),
        "the first line came {first_after:?} after the start, not before the cell ended"
    );
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "done\n");
    assert!(child.wait().unwrap().success());
}

#[tokio::test]
async fn ctrl_c_during_exec_interrupts_the_cell_and_the_session_keeps_its_variables() {
    let server = server(UIDS, "session").await;
    let work = server.work("ctrl-c");
    let id = server.new_session(&[]);
    server.ok(&work, &["exec", &id, "kept = 41"]);
    let code = "print('looping', flush=True)\nwhile True:\n    pass";
    let mut child = server
        .command(&work, &["exec", &id, code])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "looping\n", "the cell is running");
    let started = Instant::now();
    let pid = child.id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status();
    assert!(kill.unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("KeyboardInterrupt"), "{err}");
    assert!(
        err.contains("the cell was interrupted; the session goes on"),
        "{err}"
    );
    assert_eq!(server.ok(&work, &["exec", &id, "kept + 1"]), "42\n");
}

#[tokio::test]
async fn a_cell_sent_while_another_runs_is_refused_as_busy_and_the_first_one_finishes() {
    let server = server(UIDS, "session").await;
    let work = server.work("busy");
    let id = server.new_session(&[]);
    let slow = "import time\nprint('slow', flush=True)\ntime.sleep(2)\nprint('end')";
    let mut first = server
        .command(&work, &["exec", &id, slow])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(first.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "slow\n", "the first cell is running");

    let out = server.run(&work, &["exec", &id, "1"], "");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("session {id} is running a cell")),
        "{err}"
    );
    stdout.read_to_string(&mut line).unwrap();
    assert_eq!(line, "slow\nend\n");
    assert!(first.wait().unwrap().success());
}

#[tokio::test]
async fn an_unknown_or_malformed_session_id_is_a_clear_error_and_a_non_zero_exit() {
    let server = server(UIDS, "session").await;
    let work = server.work("unknown");
    let unknown = "0190c3f0-0000-7000-8000-000000000000";
    for args in [
        vec!["exec", unknown, "1"],
        vec!["rm", unknown],
        vec!["files", unknown, "ls"],
    ] {
        let out = server.run(&work, &args, "");
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("no open session {unknown}")),
            "{args:?}: {err}"
        );
    }
    let out = server.run(&work, &["exec", "not-an-id", "1"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not a session id"));
}
