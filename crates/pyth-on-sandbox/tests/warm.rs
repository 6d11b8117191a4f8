//! Pre-started interpreters (`prestart`, the warm pool's fast path), as root: the program sees
//! what a cold run sees, nothing of the bootstrap is left to it, and what depends on the job
//! (limits, environment, arguments) is the job's. The whole isolation and limits suites also
//! run in this mode (`PYTH_ON_TEST_PREPARED=prestart`, see `scripts/test`).
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use common::{frame_in, frame_prepared, privileged, run_in, Mode};
use pyth_on_sandbox::protocol::{EnvVar, JobSpec, RunnerFrame};

fn with_args_env(mut spec: JobSpec) -> JobSpec {
    spec.args = vec!["one".into(), "two wörds".into()];
    spec.env = vec![EnvVar {
        name: "GREETING".into(),
        value: "hello".into(),
    }];
    spec.stdin = "from stdin\n".into();
    spec
}

/// Runs `spec` cold and pre-started; both must give the same stdout, stderr and exit code.
fn same_as_cold(spec: &JobSpec) -> (String, String, i32) {
    let cold = run_in(spec, Mode::Cold);
    let warm = run_in(spec, Mode::Prestarted);
    assert_eq!(
        (&warm.stdout, &warm.stderr, warm.exit_code),
        (&cold.stdout, &cold.stderr, cold.exit_code),
        "pre-started differs from cold"
    );
    (warm.stdout, warm.stderr, warm.exit_code)
}

#[test]
fn a_python_program_sees_the_same_main_module_argv_path_env_and_stdin_as_cold() {
    privileged();
    let code = r#"
"""The docstring."""
import os, sys, inspect, pickle
class Point:
    pass
def f():
    return 1
print(__name__, __file__, __doc__, sys.argv, sys.path[0])
print(os.environ["GREETING"], sys.stdin.read().strip())
print(inspect.getsource(f).strip())
print(type(pickle.loads(pickle.dumps(Point()))).__module__)
print(sys.modules["__main__"].f is f)
"#;
    let (out, err, code) = same_as_cold(&with_args_env(common::py(code)));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(
        "__main__ /code/main.py The docstring. ['/code/main.py', 'one', 'two wörds'] /code\n\
         hello from stdin\ndef f():\n    return 1\n__main__\nTrue\n"
    ));
}

#[test]
fn a_python_traceback_and_a_syntax_error_read_exactly_as_cold() {
    privileged();
    let (_, err, code) = same_as_cold(&common::py("def f():\n    raise ValueError('boom')\nf()\n"));
    assert_eq!(code, 1);
    assert!(err.starts_with("Traceback (most recent call last):\n  File \"/code/main.py\""));
    let (_, err, code) = same_as_cold(&common::py("print(\n"));
    assert_eq!(code, 1);
    assert!(err.contains("SyntaxError"), "{err}");
    let (_, _, code) = same_as_cold(&common::py("import sys\nsys.exit(7)\n"));
    assert_eq!(code, 7);
}

#[test]
fn a_node_program_sees_the_same_main_module_argv_and_env_as_cold() {
    privileged();
    let code = r#"
console.log(require.main === module, __filename, process.argv.slice(1).join('|'));
console.log(process.env.GREETING, require('fs').readFileSync(0, 'utf8').trim());
console.log(JSON.stringify(process.execArgv));
console.log(['require', 'module', 'exports', '__filename', '__dirname']
  .map((n) => typeof globalThis[n]).join(), typeof process._eval);
"#;
    let (out, err, code) = same_as_cold(&with_args_env(common::js(code)));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "true /code/main.js /code/main.js|one|two wörds\nhello from stdin\n[]\n\
         undefined,undefined,undefined,undefined,undefined undefined\n"
    );
}

#[test]
fn a_node_child_process_fork_runs_its_own_script_not_the_bootstrap() {
    privileged();
    let code = r#"
const { fork } = require('child_process');
if (process.argv[2] === 'child') {
  process.send('child ran ' + process.argv.slice(1).join(','), () => process.exit(0));
} else {
  const c = fork(__filename, ['child']);
  c.on('message', (m) => console.log(m));
  c.on('exit', (code) => console.log('exit', code));
}
"#;
    let r = run_in(&common::js(code), Mode::Prestarted);
    assert_eq!(r.exit_code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "child ran /code/main.js,child\nexit 0\n");
}

#[test]
fn a_node_uncaught_error_exits_1_with_the_user_frame_first() {
    privileged();
    let r = run_in(
        &common::js("function f() { throw new Error('boom'); }\nf();\n"),
        Mode::Prestarted,
    );
    assert_eq!(r.exit_code, 1);
    assert!(r.stderr.starts_with("/code/main.js:1\n"), "{}", r.stderr);
    assert!(r.stderr.contains("Error: boom\n    at f (/code/main.js:1:"));
}

#[test]
fn the_program_holds_no_descriptor_of_the_bootstrap() {
    privileged();
    let py = "import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))\n";
    let r = run_in(&common::py(py), Mode::Prestarted);
    // 3 is the directory listing itself.
    assert_eq!(r.stdout, "[0, 1, 2, 3]\n", "{}", r.stderr);
    let js = "console.log(require('fs').readdirSync('/proc/self/fd').map(Number).filter((n) => n > 2 && n < 7).length)";
    let r = run_in(&common::js(js), Mode::Prestarted);
    // Node opens its own descriptors (epoll, eventfd, the listing); none of 3..=6 may be a
    // pipe of the run. Check their targets instead of their count.
    assert_eq!(r.exit_code, 0, "{}", r.stderr);
    let js = "const fs = require('fs');\nfor (const n of [3, 4, 5, 6]) { try { const t = fs.readlinkSync('/proc/self/fd/' + n); if (t.startsWith('pipe:') || t.startsWith('/code')) console.log(n, t); } catch {} }\nconsole.log('done')";
    let r = run_in(&common::js(js), Mode::Prestarted);
    assert_eq!(r.stdout, "done\n", "{}", r.stderr);
}

#[test]
fn the_job_timeout_lowers_the_python_cpu_limit_and_a_longer_one_is_refused() {
    privileged();
    let mut spec = common::py(
        "import resource\nprint(resource.getrlimit(resource.RLIMIT_CPU))\nwhile True: pass\n",
    );
    spec.limits.timeout_ms = 10_000;
    let mut profile = spec.clone();
    profile.code.clear();
    profile.prestart = true;
    let mut job = spec.clone();
    job.prestart = true;
    job.limits.timeout_ms = 1_000;
    let RunnerFrame::Result(r) = frame_prepared(&profile, &job) else {
        panic!("no result")
    };
    assert_eq!(r.stdout, "(3, 4)\n");
    assert!(r.timed_out);
    job.limits.timeout_ms = 20_000;
    let RunnerFrame::Failed { error } = frame_prepared(&profile, &job) else {
        panic!("a longer timeout must be refused")
    };
    assert!(error.contains("longer timeout"), "{error}");
}

#[test]
fn a_zk_job_is_never_prestarted() {
    privileged();
    let mut spec = common::py("");
    spec.zk = Some(pyth_on_sandbox::protocol::ZkSpec {
        payload: "{}".into(),
        password: "pw".into(),
        owner: "00000000-0000-0000-0000-000000000000".into(),
        name: "n".into(),
    });
    let RunnerFrame::Failed { error } = frame_in(&spec, Mode::Prestarted) else {
        panic!("must be refused")
    };
    assert!(error.contains("pre-started"), "{error}");
}

#[test]
fn a_prestarted_run_starts_user_code_quickly_after_the_release() {
    privileged();
    // Not a benchmark: only that the interpreter start is no longer on the job's path, which
    // shows as a setup far below a cold interpreter start (~15 ms for python3 here).
    let r = run_in(&common::py("print(1)"), Mode::Prestarted);
    assert_eq!(r.stdout, "1\n");
    assert!(r.timings.prepare_ms > 0.0);
    assert!(r.timings.setup_ms < r.timings.prepare_ms, "{:?}", r.timings);
}

#[test]
fn a_sandbox_prepared_at_low_priority_runs_its_job_at_normal_priority() {
    privileged();
    // The runner prepares at nice 19 (a refill yields to runs in progress); the release
    // restores 0 for everything in the sandbox, which the program cannot do itself.
    let code = "import os, subprocess\nprint(os.nice(0), subprocess.run(['nice'], capture_output=True, text=True).stdout.strip())";
    for mode in [Mode::Cold, Mode::Prepared, Mode::Prestarted] {
        let r = run_in(&common::py(code), mode);
        assert_eq!(
            (r.stdout.as_str(), r.exit_code),
            ("0 0\n", 0),
            "{mode:?}: {}",
            r.stderr
        );
    }
}
