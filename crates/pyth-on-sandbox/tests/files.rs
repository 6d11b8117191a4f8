//! Files in and out of a run, and live output, against the real runner (as root: sandbox
//! tests need it, CI runs as root). Each test runs in the mode `PYTH_ON_TEST_PREPARED`
//! selects (cold, `prepared`, `prestart`), except that jobs with input files, which a
//! pre-started interpreter refuses, run prepared (not pre-started) under `prestart`.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::{Duration, Instant};

use common::{env_mode, frame_prepared, privileged, talk_in, Mode};
use pyth_on_sandbox::files::INPUT_FILES_TOO_LARGE;
use pyth_on_sandbox::protocol::{
    self, InputFile, JobResult, JobSpec, OutputSpec, RunnerFrame, ServerFrame, Stream,
};

fn input(path: &str, content: &str) -> InputFile {
    InputFile {
        path: path.into(),
        content: content.as_bytes().to_vec(),
    }
}

fn wanting(mut spec: JobSpec, patterns: &[&str], max_files: u32, max_bytes: u64) -> JobSpec {
    spec.output = Some(OutputSpec {
        patterns: patterns.iter().map(|p| p.to_string()).collect(),
        max_files,
        max_bytes,
    });
    spec
}

/// The mode for a job with input files: the environment's, but prepared instead of
/// pre-started (which refuses them: see the dedicated test).
fn input_mode() -> Mode {
    match env_mode() {
        Mode::Prestarted | Mode::Forked => Mode::Prepared,
        mode => mode,
    }
}

fn ok_in(spec: &JobSpec, mode: Mode) -> JobResult {
    let talk = talk_in(spec, mode);
    let r = talk.result().clone();
    assert_eq!(
        r.exit_code, 0,
        "{mode:?}: stdout {}\nstderr {}",
        r.stdout, r.stderr
    );
    r
}

fn failure_in(spec: &JobSpec, mode: Mode) -> String {
    match talk_in(spec, mode).last {
        RunnerFrame::Failed { error } => error,
        other => panic!("{mode:?}: expected a set-up failure, got {other:?}"),
    }
}

/// The files of a result as `(path, text)`.
fn files(r: &JobResult) -> Vec<(&str, String)> {
    r.files
        .iter()
        .map(|f| {
            (
                f.path.as_str(),
                String::from_utf8_lossy(&f.content).into_owned(),
            )
        })
        .collect()
}

fn paths(r: &JobResult) -> Vec<&str> {
    r.files.iter().map(|f| f.path.as_str()).collect()
}

// ---- input files --------------------------------------------------------------------------

#[test]
fn a_python_package_in_several_files_is_imported_from_work() {
    privileged();
    let mut s = common::py(
        "import os, sys\nsys.path.insert(0, '/work')\nfrom pkg.util import double\n\
         print(double(21), os.getcwd())\n\
         st = os.stat('pkg/util.py'); d = os.stat('pkg')\n\
         print(st.st_uid == os.getuid(), oct(st.st_mode & 0o777), oct(d.st_mode & 0o777))\n",
    );
    s.files = vec![
        input("pkg/__init__.py", "from .util import double\n"),
        input("pkg/util.py", "def double(x):\n    return 2 * x\n"),
    ];
    let r = ok_in(&s, input_mode());
    assert_eq!(r.stdout, "42 /work\nTrue 0o644 0o755\n");
}

#[test]
fn a_node_program_requires_modules_written_to_work() {
    privileged();
    let mut s = common::js("console.log(require('/work/lib.js').greet('world'))");
    s.files = vec![
        input(
            "lib.js",
            "const h = require('./helpers/h');\nexports.greet = (n) => h.hi(n);\n",
        ),
        input("helpers/h.js", "exports.hi = (n) => `hello ${n}`;\n"),
    ];
    assert_eq!(ok_in(&s, input_mode()).stdout, "hello world\n");
}

#[test]
fn input_paths_that_leave_work_are_refused_by_the_runner_itself() {
    privileged();
    // As if the server's own check had been bypassed: the payload checks again.
    for bad in ["/etc/evil", "../evil", "a/../../evil", "a\0b", ".."] {
        let mut s = common::py("print('must not run')");
        s.files = vec![input("ok.txt", "1"), input(bad, "x")];
        let error = failure_in(&s, input_mode());
        assert!(error.contains("input file"), "{bad:?}: {error}");
    }
}

#[test]
fn input_files_larger_than_the_work_tmpfs_fail_with_a_clear_set_up_error() {
    privileged();
    let mut s = common::py("print('must not run')");
    s.limits.tmpfs_size_mb = 1;
    s.files = vec![InputFile {
        path: "big.bin".into(),
        content: vec![7; 2 << 20],
    }];
    let started = Instant::now();
    let error = failure_in(&s, input_mode());
    assert!(error.contains(INPUT_FILES_TOO_LARGE), "{error}");
    assert!(error.contains("big.bin"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_pre_started_interpreter_refuses_input_files() {
    privileged();
    let mut s = common::py("print(1)");
    s.files = vec![input("a.txt", "1")];
    let error = failure_in(&s, Mode::Prestarted);
    assert!(error.contains("pre-started"), "{error}");
}

#[test]
fn a_prepare_profile_with_a_user_part_is_refused() {
    privileged();
    let job = common::py("print(1)");
    for profile in [
        wanting(common::py(""), &["*"], 1, 1),
        JobSpec {
            stream: true,
            ..common::py("")
        },
        JobSpec {
            files: vec![input("a", "1")],
            ..common::py("")
        },
    ] {
        match frame_prepared(&profile, &job) {
            RunnerFrame::Failed { error } => assert!(error.contains("profile"), "{error}"),
            other => panic!("expected Failed, got {other:?}"),
        }
    }
}

// ---- output files -------------------------------------------------------------------------

#[test]
fn output_files_matching_the_patterns_come_back_in_path_order() {
    privileged();
    let code = r#"
import os
for p in ["out/b.txt", "out/a.txt", "out/sub/deep/c.txt", "out/x.bin", "run.log", "top.txt"]:
    os.makedirs(os.path.dirname(p) or ".", exist_ok=True)
    open(p, "w").write(p.upper())
"#;
    let s = wanting(common::py(code), &["out/**/*.txt", "*.log"], 10, 1 << 20);
    let r = ok_in(&s, env_mode());
    assert_eq!(
        files(&r),
        [
            ("out/a.txt", "OUT/A.TXT".to_string()),
            ("out/b.txt", "OUT/B.TXT".into()),
            ("out/sub/deep/c.txt", "OUT/SUB/DEEP/C.TXT".into()),
            ("run.log", "RUN.LOG".into()),
        ]
    );
    assert!(!r.files_truncated);
    let r = ok_in(&common::py(code), env_mode());
    assert!(r.files.is_empty(), "no output spec, no files");
}

#[test]
fn links_out_of_work_are_never_followed() {
    privileged();
    let code = r#"
import errno, os
os.makedirs("real")
open("real/f.txt", "w").write("mine")
for target, name in [("/etc/passwd", "passwd.txt"), ("/proc/1/environ", "init_env.txt"),
                     ("/proc/1/root/etc/hostname", "host.txt"), ("/etc", "etc"),
                     ("/proc/1", "init"), ("real", "alias"), ("real/f.txt", "inner.txt")]:
    os.symlink(target, name)
try:
    os.link("/etc/passwd", "hard.txt")
except OSError as e:
    print("hard link:", errno.errorcode[e.errno])
"#;
    let s = wanting(common::py(code), &["**"], 1000, 1 << 20);
    let r = ok_in(&s, env_mode());
    assert_eq!(r.stdout, "hard link: EXDEV\n");
    assert_eq!(files(&r), [("real/f.txt", "mine".to_string())]);
}

#[test]
fn a_fifo_in_work_is_skipped_without_hanging() {
    privileged();
    let code = "import os\nos.mkfifo('pipe.txt')\nopen('plain.txt', 'w').write('x')\n";
    let s = wanting(common::py(code), &["*.txt"], 10, 1024);
    let started = Instant::now();
    let r = ok_in(&s, env_mode());
    assert_eq!(paths(&r), ["plain.txt"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_output_file_replaced_by_a_symlink_is_skipped() {
    privileged();
    let code = r#"
import os
open("result.txt", "w").write("first")
open("kept.txt", "w").write("kept")
os.remove("result.txt")
os.symlink("/etc/passwd", "result.txt")
"#;
    let s = wanting(common::py(code), &["*.txt"], 10, 1 << 20);
    let r = ok_in(&s, env_mode());
    assert_eq!(files(&r), [("kept.txt", "kept".to_string())]);
}

#[test]
fn a_background_process_left_running_is_killed_before_files_are_collected() {
    privileged();
    // The program leaves a child behind that waits until any output file is read (its access
    // time changes: the first read after a write sets it), then truncates them all, last ones
    // first, for as long as it lives. Were it alive while init reads them, the files after
    // the first would come back short; killed first, it never starts, however long init takes
    // to kill it.
    let code = r#"
import os, time
names = [f"f{i:02}.txt" for i in range(24)]
for n in names:
    with open(n, "wb") as f:
        f.write(b"x" * (1 << 20))
written = [os.stat(n).st_atime_ns for n in names]
# The control: in this file system, a read after a write changes the access time.
with open("probe.bin", "wb") as f:
    f.write(b"p")
probe = os.stat("probe.bin").st_atime_ns
time.sleep(0.02)
open("probe.bin", "rb").read()
print("a read shows:", os.stat("probe.bin").st_atime_ns != probe, flush=True)
if os.fork() == 0:
    for fd in (0, 1, 2):
        os.close(fd)
    while [os.stat(n).st_atime_ns for n in names] == written:
        time.sleep(0.0005)
    while True:
        for n in reversed(names):
            os.truncate(n, 0)
"#;
    let s = wanting(common::py(code), &["*.txt"], 100, 32 << 20);
    let r = ok_in(&s, env_mode());
    assert_eq!(r.stdout, "a read shows: True\n");
    assert_eq!(r.files.len(), 24);
    for f in &r.files {
        assert_eq!(f.content.len(), 1 << 20, "{} came back short", f.path);
    }
    assert!(!r.files_truncated);
}

#[test]
fn the_program_holds_no_pipe_but_its_stdio() {
    privileged();
    // In particular neither end of init's output-spec and files pipes: the program can
    // neither read the spec nor forge the files init sends.
    let code = r#"
import os
def target(f):
    try:
        return os.readlink(f"/proc/self/fd/{f}")
    except FileNotFoundError:  # the descriptor listdir itself used
        return ""
print([f for f in sorted(map(int, os.listdir("/proc/self/fd"))) if target(f).startswith("pipe:")])
"#;
    let mut s = wanting(common::py(code), &["*"], 10, 1024);
    s.files = vec![input("in.txt", "1")];
    assert_eq!(ok_in(&s, input_mode()).stdout, "[0, 1, 2]\n");
    let s = wanting(common::py(code), &["*"], 10, 1024);
    // A forked run holds one more: the write end of its notice pipe (tests/fork_notice.rs).
    let expected = match env_mode() {
        Mode::Forked => "[0, 1, 2, 7]\n",
        _ => "[0, 1, 2]\n",
    };
    assert_eq!(ok_in(&s, env_mode()).stdout, expected);
}

#[test]
fn the_file_and_byte_bounds_leave_files_out_and_say_so() {
    privileged();
    let code = "for n, size in [('a', 10), ('b', 10), ('c', 3)]:\n    open(n + '.txt', 'w').write('x' * size)\n";
    let r = ok_in(&wanting(common::py(code), &["*.txt"], 2, 1024), env_mode());
    assert_eq!(
        (paths(&r), r.files_truncated),
        (vec!["a.txt", "b.txt"], true)
    );
    let r = ok_in(&wanting(common::py(code), &["*.txt"], 10, 15), env_mode());
    assert_eq!(
        (paths(&r), r.files_truncated),
        (vec!["a.txt", "c.txt"], true)
    );
    let r = ok_in(&wanting(common::py(code), &["*.txt"], 3, 23), env_mode());
    assert_eq!((r.files.len(), r.files_truncated), (3, false));
}

#[test]
fn a_run_killed_at_its_timeout_brings_back_no_files() {
    privileged();
    let code = "import time\nopen('out.txt', 'w').write('x')\ntime.sleep(30)\n";
    let mut s = wanting(common::py(code), &["*.txt"], 10, 1024);
    s.limits.timeout_ms = 1000;
    let talk = talk_in(&s, env_mode());
    let r = talk.result();
    assert!(r.timed_out, "{r:?}");
    assert!(r.files.is_empty() && !r.files_truncated, "{r:?}");
}

// ---- live output --------------------------------------------------------------------------

#[test]
fn live_output_arrives_while_the_program_runs_and_equals_the_capture() {
    privileged();
    let code = "import sys, time\nprint('starting', file=sys.stderr)\n\
                for i in range(5):\n    print(i, flush=True)\n    time.sleep(0.3)\n";
    let mut s = common::py(code);
    s.stream = true;
    let talk = talk_in(&s, env_mode());
    let r = talk.result();
    assert_eq!(r.stdout, "0\n1\n2\n3\n4\n");
    assert_eq!(talk.streamed(Stream::Stdout), r.stdout.as_bytes());
    assert_eq!(talk.streamed(Stream::Stderr), r.stderr.as_bytes());
    let first = talk.chunks.first().expect("output frames").0;
    assert!(
        first + Duration::from_millis(900) < talk.last_at,
        "first chunk at {first:?}, result at {:?}",
        talk.last_at
    );
    assert!(talk.chunks.len() >= 5, "{} chunks", talk.chunks.len());
}

#[test]
fn a_node_program_streams_its_output_too() {
    privileged();
    let code = "let i = 0; const t = setInterval(() => { console.log(i++); \
                if (i === 3) clearInterval(t); }, 200);";
    let mut s = common::js(code);
    s.stream = true;
    let talk = talk_in(&s, env_mode());
    assert_eq!(talk.result().stdout, "0\n1\n2\n");
    assert_eq!(talk.streamed(Stream::Stdout), b"0\n1\n2\n");
    assert!(talk.chunks[0].0 + Duration::from_millis(300) < talk.last_at);
}

#[test]
fn live_output_never_passes_the_output_cap() {
    privileged();
    let mut s = common::py("import sys\nfor _ in range(50):\n    sys.stdout.write('x' * 100)\n");
    s.limits.max_output_bytes = 1000;
    s.stream = true;
    let talk = talk_in(&s, env_mode());
    let r = talk.result();
    assert!(r.output_truncated, "{r:?}");
    assert_eq!(r.stdout.len(), 1000);
    assert_eq!(talk.streamed(Stream::Stdout), r.stdout.as_bytes());
}

#[test]
fn a_server_that_stops_listening_ends_a_streaming_run() {
    privileged();
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut s = common::py(
        "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.05)\n",
    );
    s.stream = true;
    s.limits.timeout_ms = 30_000;
    let mut runner = Command::new(env!("CARGO_BIN_EXE_pyth-on-runner"))
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = runner.stdin.take().unwrap();
    let mut out = runner.stdout.take().unwrap();
    let job = protocol::encode_frame(&ServerFrame::Job(Box::new(s))).unwrap();
    input.write_all(&job).unwrap();
    drop(input);
    assert!(matches!(
        protocol::read_frame(&mut out).unwrap(),
        RunnerFrame::Ready(_)
    ));
    assert!(matches!(
        protocol::read_frame(&mut out).unwrap(),
        RunnerFrame::Output(_)
    ));
    // The server goes away: the runner's next Output frame fails (EPIPE).
    let gone = Instant::now();
    drop(out);
    let done = runner.wait_with_output().unwrap();
    assert!(
        gone.elapsed() < Duration::from_secs(5),
        "the run went on for {:?} after the server left",
        gone.elapsed()
    );
    // Not killed by SIGPIPE: the runner saw the failed write, ended the run, tore it down and
    // exited with the error.
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(1), "{stderr}");
    assert!(stderr.to_lowercase().contains("broken pipe"), "{stderr}");
}

#[test]
fn without_stream_no_output_frames_are_sent() {
    privileged();
    let talk = talk_in(&common::py("print('quiet')"), env_mode());
    assert_eq!(talk.result().stdout, "quiet\n");
    assert!(talk.chunks.is_empty(), "{:?}", talk.chunks);
}

#[test]
fn files_and_live_output_work_together() {
    privileged();
    let mut s = wanting(
        common::py("print('x')\nopen('report.md', 'w').write('# done')"),
        &["*.md"],
        1,
        100,
    );
    s.files = vec![input("data.csv", "a,b\n")];
    s.stream = true;
    let talk = talk_in(&s, input_mode());
    let r = talk.result();
    assert_eq!(talk.streamed(Stream::Stdout), b"x\n");
    assert_eq!(files(r), [("report.md", "# done".to_string())]);
}
