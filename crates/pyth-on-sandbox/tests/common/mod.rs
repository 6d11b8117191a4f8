//! Shared helpers: drive the real `pyth-on-runner` binary over its frame protocol.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};

use pyth_on_sandbox::protocol::{
    self, JobResult, JobSpec, Language, Limits, RunnerFrame, ServerFrame,
};
use pyth_on_sandbox::rootfs::BASE_RO_MOUNTS;
use pyth_on_sandbox::SandboxOptions;

/// Returns false (and says so loudly) when the test cannot run: not root.
pub fn privileged() -> bool {
    if pyth_on_sandbox::running_as_root() {
        return true;
    }
    eprintln!(
        "SKIPPED: sandbox tests need root (namespaces, cgroups, pivot_root); CI runs as root"
    );
    false
}

pub fn spec(language: Language, code: &str) -> JobSpec {
    let interpreter = match language {
        Language::Python => "/usr/bin/python3",
        Language::Javascript => "/usr/bin/node",
    };
    JobSpec {
        language,
        interpreter: interpreter.into(),
        interpreter_args: vec![],
        ro_mounts: BASE_RO_MOUNTS.iter().map(Into::into).collect(),
        binds: vec![],
        code: code.into(),
        stdin: String::new(),
        args: vec![],
        env: vec![],
        limits: Limits {
            timeout_ms: 10_000,
            ..Limits::default()
        },
        sandbox: SandboxOptions::default(),
        zk: None,
    }
}

pub fn py(code: &str) -> JobSpec {
    spec(Language::Python, code)
}

pub fn js(code: &str) -> JobSpec {
    spec(Language::Javascript, code)
}

/// Everything the runner said.
#[derive(Debug)]
pub struct Session {
    pub runner_pid: i32,
    pub result: JobResult,
}

/// Runs `spec` through a fresh runner; the runner gets `extra_env` (to prove it does not leak).
pub fn run_with_env(spec: &JobSpec, extra_env: &[(&str, &str)]) -> Session {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pyth-on-runner"))
        .env_clear()
        .envs(extra_env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn runner");
    let frame = protocol::encode_frame(&ServerFrame::Job(Box::new(spec.clone()))).unwrap();
    child.stdin.take().unwrap().write_all(&frame).unwrap();
    let mut out = child.stdout.take().unwrap();
    let RunnerFrame::Ready(ready) = protocol::read_frame(&mut out).unwrap() else {
        panic!("first frame must be Ready")
    };
    let frame: RunnerFrame = protocol::read_frame(&mut out).unwrap();
    child.wait().unwrap();
    match frame {
        RunnerFrame::Result(result) => Session {
            runner_pid: ready.pid,
            result: *result,
        },
        other => panic!("runner did not produce a result: {other:?}"),
    }
}

pub fn run(spec: &JobSpec) -> JobResult {
    run_with_env(spec, &[]).result
}

/// Runs and asserts a clean exit; returns stdout.
pub fn ok(spec: &JobSpec) -> String {
    let r = run(spec);
    assert_eq!(r.exit_code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    r.stdout
}

/// Runs `spec` and returns the final frame, whatever it is.
pub fn final_frame(spec: &JobSpec) -> RunnerFrame {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pyth-on-runner"))
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn runner");
    let frame = protocol::encode_frame(&ServerFrame::Job(Box::new(spec.clone()))).unwrap();
    child.stdin.take().unwrap().write_all(&frame).unwrap();
    let mut out = child.stdout.take().unwrap();
    let _ready: RunnerFrame = protocol::read_frame(&mut out).unwrap();
    let last = protocol::read_frame(&mut out).unwrap();
    child.wait().unwrap();
    last
}
