//! `pyth-on run` as a user types it, against a real `pyth-on serve`: output streamed while the
//! program runs, piped standard input, a project directory run from its entry, output files
//! written back, the program's exit code, Ctrl-C cancelling the run and a refusal explained.
#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod common;

use common::server::{text, Server};

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A server of its own for this file's tests (runs under uids of their own).
async fn server() -> Server {
    common::server::server(1_760_000_000, "run").await
}

#[tokio::test]
async fn the_output_of_a_program_printing_in_a_loop_streams_to_stdout_while_it_runs() {
    let server = server().await;
    let work = server.work("loop");
    std::fs::write(
        work.join("count.py"),
        "import sys, time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.2)\n\
         print('to stderr', file=sys.stderr, flush=True)\ntime.sleep(1.5)\nprint('done')\n",
    )
    .unwrap();
    let mut child = server
        .command(&work, &["count.py"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first, "tick 0\n");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first line came before the program ended"
    );
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(rest, "tick 1\ntick 2\ndone\n");
    assert_eq!(text(&out.stderr), "to stderr\n");
    assert_eq!(out.status.code(), Some(0));
}

#[tokio::test]
async fn piped_stdin_or_a_stdin_file_reaches_the_program_and_its_exit_code_is_the_command_s() {
    let server = server().await;
    let work = server.work("stdin");
    std::fs::write(
        work.join("upper.py"),
        "import sys\ndata = sys.stdin.read()\nprint(data.upper(), end='')\nsys.exit(len(data.split()))\n",
    )
    .unwrap();
    let out = server.run(&work, &["upper.py"], "three small words\n");
    assert_eq!(text(&out.stdout), "THREE SMALL WORDS\n");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    std::fs::write(work.join("input.txt"), "from a file").unwrap();
    let args = ["--no-stream", "--stdin-file", "input.txt", "upper.py"];
    let out = server.run(&work, &args, "ignored");
    assert_eq!(text(&out.stdout), "FROM A FILE");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}

#[tokio::test]
async fn a_directory_of_files_runs_as_a_project_from_its_entry_with_its_arguments() {
    let server = server().await;
    let work = server.work("project");
    let app = work.join("app");
    std::fs::create_dir_all(app.join("lib")).unwrap();
    std::fs::create_dir_all(app.join("data")).unwrap();
    std::fs::write(
        app.join("main.py"),
        "import sys\nfrom lib.greet import greet\n\
         print(greet(open('data/name.txt').read().strip()), sys.argv[1:])\n",
    )
    .unwrap();
    std::fs::write(
        app.join("lib/greet.py"),
        "def greet(n):\n    return 'hello ' + n\n",
    )
    .unwrap();
    std::fs::write(app.join("data/name.txt"), "ada\n").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", app.join("host")).unwrap();

    let args = ["--file", "app/", "--entry", "main.py", "--", "x", "y"];
    let out = server.run(&work, &args, "");
    assert_eq!(
        text(&out.stdout),
        "hello ada ['x', 'y']\n",
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("skipping the symbolic link"));
    assert_eq!(out.status.code(), Some(0));
}

#[tokio::test]
async fn output_files_are_written_into_the_output_directory_and_kept_unless_forced() {
    let server = server().await;
    let work = server.work("outputs");
    std::fs::write(
        work.join("make.py"),
        "import os, sys\nopen('report.txt', 'w').write(sys.argv[1])\nopen('skip.log', 'w').write('no')\n\
         os.makedirs('img')\nopen('img/dot.bin', 'wb').write(bytes([0, 255, 10]))\n",
    )
    .unwrap();
    let outdir = work.join("out");
    let args = |word| {
        [
            "--output",
            "*.txt",
            "--output",
            "img/**",
            "--output-dir",
            "out",
            "make.py",
            "--",
            word,
        ]
    };
    let out = server.run(&work, &args("first"), "");
    let stderr = text(&out.stderr);
    assert!(
        out.status.success() && stderr.contains("wrote 2 files"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(outdir.join("report.txt")).unwrap(),
        "first"
    );
    assert_eq!(
        std::fs::read(outdir.join("img/dot.bin")).unwrap(),
        [0, 255, 10]
    );
    assert!(!outdir.join("skip.log").exists());

    let out = server.run(&work, &args("second"), "");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("\"report.txt\": it exists"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(outdir.join("report.txt")).unwrap(),
        "first"
    );
    let forced = [&["--force"][..], &args("third")].concat();
    let out = server.run(&work, &forced, "");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("wrote 2 files"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(outdir.join("report.txt")).unwrap(),
        "third"
    );
}

#[tokio::test]
async fn ctrl_c_cancels_a_streaming_run_and_exits_130() {
    let server = server().await;
    let work = server.work("cancel");
    std::fs::write(
        work.join("long.py"),
        "import time\nprint('ready', flush=True)\ntime.sleep(30)\n",
    )
    .unwrap();
    let mut child = server
        .command(&work, &["long.py"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let interrupted = Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(interrupted.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the run was cancelled"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn a_refused_run_says_why_and_fails() {
    let server = server().await;
    let work = server.work("refused");
    std::fs::write(work.join("a.py"), "print('never')\n").unwrap();
    let out = server.run(&work, &["--file", "a.py", "--entry", "missing.py"], "");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the server refused the run") && stderr.contains("entry"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
