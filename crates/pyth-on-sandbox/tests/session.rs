//! Sessions (`Session` then `Cell` frames), as root, against the real runner: state kept
//! across cells, rich results, errors, interrupts, the kernel's death, the teardown, and the
//! isolation of the kernel (the same as a run's).
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::kernel::open;
use common::privileged;
use pyth_on_sandbox::protocol::{self, EnvVar, RunnerFrame, ServerFrame};

#[test]
fn a_session_profile_with_user_data_is_refused_and_a_job_cannot_start_a_kernel() {
    privileged();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pyth-on-runner"))
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut stdin, mut stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let frame = ServerFrame::Session(Box::new(common::py("print(1)")));
    protocol::write_frame(&mut stdin, &frame).unwrap();
    let _ready: RunnerFrame = protocol::read_frame(&mut stdout).unwrap();
    let last: RunnerFrame = protocol::read_frame(&mut stdout).unwrap();
    assert!(
        matches!(&last, RunnerFrame::Failed { error } if error.contains("must not carry code")),
        "{last:?}"
    );
    child.wait().unwrap();
    let mut job = common::py("print(1)");
    job.session = true;
    let last = common::frame_in(&job, common::Mode::Cold);
    assert!(
        matches!(&last, RunnerFrame::Failed { error } if error.contains("session")),
        "{last:?}"
    );
}

#[test]
fn python_state_functions_imports_and_files_persist_across_cells() {
    let mut k = open(common::py(""));
    assert!(k.cell("x = 1").result.results.is_empty());
    assert_eq!(k.cell("x += 1; x").text(), ["2"]);
    k.cell("import math\ndef area(r):\n    return math.pi * r * r");
    assert_eq!(k.cell("round(area(2), 3)").text(), ["12.566"]);
    k.cell("open('/work/notes.txt', 'w').write('kept')");
    assert_eq!(k.cell("open('notes.txt').read()").text(), ["'kept'"]);
    k.close();
}

#[test]
fn a_final_expression_is_a_result_and_print_goes_to_stdout() {
    let mut k = open(common::py(""));
    let c = k.cell("print('hello')\n40 + 2");
    assert_eq!(c.stdout, "hello\n");
    assert_eq!(c.text(), ["42"]);
    let c = k
        .cell("import asyncio\nawait asyncio.sleep(0.01)\nasync def f():\n    return 5\nawait f()");
    assert_eq!(c.text(), ["5"], "{c:?}");
    let c = k.cell("y = 3\nNone");
    assert!(c.result.results.is_empty() && c.stdout.is_empty());
    k.close();
}

#[test]
fn an_exception_comes_back_with_its_traceback_and_the_session_survives() {
    let mut k = open(common::py(""));
    k.cell("z = 5");
    let c = k.cell("def f():\n    raise ValueError('boom')\nf()");
    let e = c.result.error.unwrap();
    assert_eq!(
        (e.name.as_str(), e.message.as_str()),
        ("ValueError", "boom")
    );
    assert!(e
        .traceback
        .starts_with("Traceback (most recent call last):"));
    assert!(e.traceback.contains("<cell-2>") && e.traceback.contains("raise ValueError"));
    assert!(!e.traceback.contains("<string>"), "{}", e.traceback);
    assert!(!c.result.session_ended);
    assert_eq!(k.cell("z").text(), ["5"]);
    let c = k.cell("print(");
    assert_eq!(c.result.error.unwrap().name, "SyntaxError");
    // A huge message is cut, not a reason to end the session.
    let c = k.cell("raise ValueError('x' * (8 << 20))");
    let e = c.result.error.unwrap();
    assert!(e.message.len() == 8192 && e.traceback.len() <= 65536);
    assert!(!c.result.session_ended);
    k.close();
}

#[test]
fn a_python_cell_that_times_out_is_interrupted_and_the_session_keeps_its_variables() {
    let mut k = open(common::py(""));
    k.cell("kept = 'yes'");
    let t = Instant::now();
    let c = k.cell_within("while True:\n    pass", 500);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(c.result.timed_out && !c.result.session_ended);
    assert_eq!(c.result.error.unwrap().name, "KeyboardInterrupt");
    assert_eq!(k.cell("kept").text(), ["'yes'"]);
    let c = k.cell_within("import asyncio\nawait asyncio.sleep(100)", 300);
    assert!(c.result.timed_out && !c.result.session_ended, "{c:?}");
    assert_eq!(c.result.error.unwrap().name, "KeyboardInterrupt");
    assert_eq!(k.cell("kept * 2").text(), ["'yesyes'"]);
    k.close();
}

#[test]
fn a_python_cell_that_ignores_its_interrupt_ends_the_session_as_timed_out() {
    let mut k = open(common::py(""));
    let code = "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        pass";
    let c = k.cell_within(code, 300);
    assert!(c.result.timed_out && c.result.session_ended, "{c:?}");
    let end = c.ended.unwrap();
    assert!(end.timed_out);
    assert_eq!(end.signal, Some(9));
    k.close();
}

#[test]
fn exit_and_os_exit_end_the_session_with_their_status() {
    let mut k = open(common::py(""));
    k.cell("print('before')");
    let c = k.cell("print('bye')\nexit()");
    assert_eq!(c.stdout, "bye\n");
    assert!(c.result.session_ended);
    assert_eq!(c.ended.unwrap().exit_code, 0);
    k.close();
    let mut k = open(common::py(""));
    let c = k.cell("import os\nos._exit(3)");
    let end = c.ended.unwrap();
    assert_eq!(
        (end.exit_code, end.signal, end.memory_exceeded),
        (3, None, false)
    );
    k.close();
}

#[test]
fn a_memory_hog_ends_the_session_as_memory_exceeded() {
    let mut spec = common::py("");
    spec.limits.memory_mb = 96;
    let mut k = open(spec);
    k.cell("a = 1");
    // A process the kernel started is OOM-killed: the cell says so, the session lives on.
    let c = k.cell(
        "import subprocess, sys\n\
         subprocess.run([sys.executable, '-c', 'b\"x\" * (400 << 20)']).returncode",
    );
    assert!(c.result.memory_exceeded && !c.result.session_ended, "{c:?}");
    assert_eq!(c.text(), ["-9"]);
    assert!(!k.cell("a").result.memory_exceeded);
    let c = k.cell("hog = b'x' * (400 << 20)");
    assert!(c.result.session_ended && c.result.memory_exceeded, "{c:?}");
    let end = c.ended.unwrap();
    assert!(end.memory_exceeded, "{end:?}");
    assert_eq!(end.signal, Some(9));
    k.close();
}

#[test]
fn rich_reprs_and_display_come_back_as_mime_results() {
    let mut k = open(common::py(""));
    let c = k.cell(
        "class Chart:\n    def _repr_html_(self):\n        return '<b>hi</b>'\n    \
         def _repr_png_(self):\n        return b'\\x89PNG'\nChart()",
    );
    let mimes: Vec<_> = c.result.results.iter().map(|r| r.mime.as_str()).collect();
    assert_eq!(mimes, ["image/png", "text/html"]);
    assert_eq!(c.result.results[0].data, "iVBORw==");
    assert_eq!(c.result.results[1].data, "<b>hi</b>");
    let c = k.cell("display(1)\ndisplay({'a': [1, 2]})");
    assert_eq!(c.text(), ["1", "{'a': [1, 2]}"]);
    let c = k.cell("class J:\n    def _repr_json_(self):\n        return {'k': 1}\ndisplay(J())");
    assert_eq!(c.result.results[0].mime, "application/json");
    assert_eq!(c.result.results[0].data, r#"{"k": 1}"#);
    k.close();
}

/// A stand-in for matplotlib in `/work` (the real one comes from a package environment):
/// enough of `pyplot` and `figure` for the kernel's hook.
const FAKE_MATPLOTLIB: &str = r#"
import os
os.makedirs('matplotlib', exist_ok=True)
open('matplotlib/__init__.py', 'w').write('')
open('matplotlib/figure.py', 'w').write(
    'class Figure:\n'
    '    def savefig(self, buf, format, bbox_inches):\n'
    '        buf.write(b"PNG" + format.encode())\n')
open('matplotlib/pyplot.py', 'w').write(
    'from matplotlib.figure import Figure\n'
    'figs = {}\n'
    'def figure(num=1):\n'
    '    return figs.setdefault(num, Figure())\n'
    'def get_fignums():\n'
    '    return sorted(figs)\n'
    'def close(which):\n'
    '    figs.clear()\n'
    'def show():\n'
    '    print("the original show")\n')
"#;

#[test]
fn pyplot_show_and_figures_left_open_come_back_as_png_results() {
    let mut k = open(common::py(""));
    k.cell(FAKE_MATPLOTLIB);
    let c = k.cell("import matplotlib.pyplot as plt\nplt.figure(1)\nplt.show()\nprint('after')");
    assert_eq!(c.stdout, "after\n", "{c:?}");
    let pngs: Vec<_> = c
        .result
        .results
        .iter()
        .map(|r| (r.mime.as_str(), r.data.as_str()))
        .collect();
    assert_eq!(pngs, [("image/png", "UE5HcG5n")]); // base64 of b"PNGpng"
    let c = k.cell("plt.figure(2)\ny = 1");
    assert_eq!(c.result.results.len(), 1, "{c:?}");
    assert!(k.cell("plt.get_fignums()").text() == ["[]"]);
    k.close();
}

#[test]
fn output_past_the_cell_cap_is_dropped_and_the_cell_interrupted() {
    let mut spec = common::py("");
    spec.limits.max_output_bytes = 1000;
    let mut k = open(spec);
    let c = k.cell("while True:\n    print('x' * 100)");
    assert_eq!(c.stdout.len(), 1000);
    assert!(c.result.output_truncated && !c.result.session_ended);
    let c = k.cell("print('again')");
    assert_eq!(c.stdout, "again\n");
    assert!(!c.result.output_truncated);
    k.close();
}

#[test]
fn a_cell_that_closes_the_result_pipe_ends_the_session_as_a_kernel_error() {
    let mut k = open(common::py(""));
    let c = k.cell("import os, time\nos.close(7)\ntime.sleep(5)");
    assert!(
        c.result.session_ended && c.result.duration_ms < 2000.0,
        "{c:?}"
    );
    assert_eq!(c.result.error.unwrap().name, "KernelError");
    assert_eq!(c.ended.unwrap().signal, Some(9));
    k.close();
}

#[test]
fn the_session_env_is_applied_and_python_sees_its_cwd_modules() {
    let mut spec = common::py("");
    spec.env = vec![EnvVar {
        name: "SECRET".into(),
        value: "s3cr3t".into(),
    }];
    let mut k = open(spec);
    assert_eq!(
        k.cell("import os\nos.environ['SECRET']").text(),
        ["'s3cr3t'"]
    );
    k.cell("open('helper.py', 'w').write('VALUE = 7')");
    assert_eq!(k.cell("import helper\nhelper.VALUE").text(), ["7"]);
    // The secret is not on the kernel's command line.
    let c = k.cell("open('/proc/self/cmdline', 'rb').read().count(b's3cr3t')");
    assert_eq!(c.text(), ["0"]);
    k.close();
}

#[test]
fn a_session_runs_as_its_unprivileged_uid_under_seccomp() {
    let mut spec = common::py("");
    spec.sandbox.uid = 64_123;
    spec.sandbox.gid = 64_123;
    let mut k = open(spec);
    assert_eq!(
        k.cell("import os\n(os.getuid(), os.getgid())").text(),
        ["(64123, 64123)"]
    );
    let c = k.cell("open('/etc/shadow').read()");
    let e = c.result.error.unwrap();
    assert!(
        matches!(e.name.as_str(), "FileNotFoundError" | "PermissionError"),
        "{e:?}"
    );
    let c = k.cell(
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n\
         (libc.mount(b'none', b'/tmp', b'tmpfs', 0, None), ctypes.get_errno())",
    );
    assert_eq!(c.text(), ["(-1, 1)"], "{c:?}"); // EPERM from the seccomp denylist
    let c = k.cell("open('/proc/self/status').read().split('Seccomp:')[1].split()[0]");
    assert_eq!(c.text(), ["'2'"]);
    k.close();
}

#[test]
fn closing_a_session_leaves_no_process_of_its_uid_and_no_cgroup() {
    let mut spec = common::py("");
    spec.sandbox.uid = 64_124;
    spec.sandbox.gid = 64_124;
    let mut k = open(spec);
    k.cell("import subprocess\np = subprocess.Popen(['sleep', '1000'])");
    assert!(uid_has_processes(64_124));
    let runner = k.close();
    assert!(
        !uid_has_processes(64_124),
        "a process of the session survived"
    );
    let groups = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("find /sys/fs/cgroup -name '{runner}-*' -type d"))
        .output()
        .unwrap();
    assert!(
        groups.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&groups.stdout)
    );
}

fn uid_has_processes(uid: u32) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read_to_string(e.path().join("status")).is_ok_and(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next())
                .is_some_and(|u| u == uid.to_string())
        })
    })
}

#[test]
fn javascript_cells_keep_bindings_await_at_top_level_and_survive_an_infinite_loop() {
    let mut k = open(common::js(""));
    k.cell("let a = 2");
    let c = k.cell("a * 21");
    assert_eq!(c.text(), ["42"]);
    assert_eq!(c.result.results[1].data, "42"); // application/json
    assert_eq!(k.cell("await Promise.resolve(5)").text(), ["5"]);
    assert_eq!(
        k.cell("const b = await Promise.resolve(7); b + a").text(),
        ["9"]
    );
    let c = k.cell("console.log('out'); ({x: [1, 2]})");
    assert_eq!(c.stdout, "out\n");
    assert_eq!(c.result.results[1].data, r#"{"x":[1,2]}"#);
    let t = Instant::now();
    let c = k.cell_within("while(true){}", 500);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(c.result.timed_out && !c.result.session_ended, "{c:?}");
    let c = k.cell_within("await new Promise(() => {})", 300);
    assert!(c.result.timed_out && !c.result.session_ended, "{c:?}");
    assert_eq!(k.cell("a + b").text(), ["9"]);
    let c = k.cell("null.x");
    assert_eq!(c.result.error.unwrap().name, "TypeError");
    assert_eq!(
        k.cell("require('fs').readdirSync('/work').length").text(),
        ["0"]
    );
    let c = k.cell("process.exit(4)");
    assert_eq!(c.ended.unwrap().exit_code, 4);
    k.close();
}

#[test]
#[ignore = "benchmark: cargo test -p pyth-on-sandbox --test session -- --ignored --nocapture"]
fn cell_round_trip_and_session_start_times() {
    for (name, spec) in [("python", common::py("")), ("node", common::js(""))] {
        let mut starts = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            let k = open(spec.clone());
            starts.push(t.elapsed());
            k.close();
        }
        let mut k = open(spec.clone());
        k.cell(if name == "python" {
            "x = 0"
        } else {
            "var x = 0"
        });
        let mut cells = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            let c = k.cell("x += 1; x");
            cells.push(t.elapsed());
            assert!(c.result.error.is_none());
        }
        k.close();
        println!(
            "{name}: session start p50 {:.1} ms p90 {:.1} ms; cell `x += 1` p50 {:.2} ms p99 {:.2} ms",
            pct(&mut starts, 50),
            pct(&mut starts, 90),
            pct(&mut cells, 50),
            pct(&mut cells, 99)
        );
    }
    std::io::stdout().flush().unwrap();
}

fn pct(v: &mut [Duration], p: usize) -> f64 {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)].as_secs_f64() * 1000.0
}
