//! Shared helpers: drive the real `pyth-on-runner` binary over its frame protocol.
#![allow(dead_code)]

pub mod cgroups;
pub mod fork;
pub mod kernel;
pub mod probes;
pub mod runner;

use std::io::Write;

use std::time::{Duration, Instant};

use pyth_on_sandbox::protocol::{
    self, JobResult, JobSpec, Language, Limits, OutputChunk, RunnerFrame, ServerFrame,
};
use pyth_on_sandbox::rootfs::BASE_RO_MOUNTS;
use pyth_on_sandbox::SandboxOptions;
use runner::Runner;

/// Fails the test, loudly, unless it runs as root: a sandbox test that cannot run must not
/// pass (CI runs as root).
pub fn privileged() {
    assert!(
        pyth_on_sandbox::running_as_root(),
        "sandbox tests need root (namespaces, cgroups, pivot_root): run them as root, as CI does"
    );
}

/// Polls `done` every 5 ms until it holds; fails the test with `what` after `within`.
pub fn wait_until(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(5));
    }
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
        egress: None,
        prestart: false,
        files: Vec::new(),
        output: None,
        stream: false,
        session: false,
        fork_server: None,
        netns: None,
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

/// Speaks to a spawned runner: `Job` directly, or, with `PYTH_ON_TEST_PREPARED=1` in the test's
/// environment, `Prepare(profile)` first and the `Job` once the runner is pre-isolated (the warm
/// pool's path); with `PYTH_ON_TEST_PREPARED=prestart`, the same with the interpreter started
/// during `Prepare` (ZK jobs excepted: they are never pre-started). Returns the runner's pid and
/// its final frame.
fn converse(child: &mut Runner, spec: &JobSpec) -> (i32, RunnerFrame) {
    let mode = match env_mode() {
        Mode::Prestarted if spec.zk.is_some() => Mode::Prepared,
        mode => mode,
    };
    let talk = converse_in(child, spec, mode);
    (talk.pid, talk.last)
}

/// The mode `PYTH_ON_TEST_PREPARED` selects: unset is [`Mode::Cold`], `prestart`
/// [`Mode::Prestarted`], `fork` [`Mode::Forked`], anything else [`Mode::Prepared`].
pub fn env_mode() -> Mode {
    match std::env::var("PYTH_ON_TEST_PREPARED").as_deref() {
        Ok("prestart") => Mode::Prestarted,
        Ok("fork") => Mode::Forked,
        Ok(_) => Mode::Prepared,
        Err(_) => Mode::Cold,
    }
}

/// What a runner said after the job was sent.
#[derive(Debug)]
pub struct Conversation {
    /// The runner's pid.
    pub pid: i32,
    /// Every `Output` frame, with when it arrived (since the job was sent).
    pub chunks: Vec<(Duration, OutputChunk)>,
    /// The final frame (`Result` or `Failed`), with when it arrived.
    pub last: RunnerFrame,
    pub last_at: Duration,
}

impl Conversation {
    /// The bytes of every chunk of `stream`, in order.
    pub fn streamed(&self, stream: protocol::Stream) -> Vec<u8> {
        self.chunks
            .iter()
            .filter(|(_, c)| c.stream == stream)
            .flat_map(|(_, c)| c.data.iter().copied())
            .collect()
    }

    /// The result (panics on anything else).
    pub fn result(&self) -> &JobResult {
        match &self.last {
            RunnerFrame::Result(r) => r,
            other => panic!("runner did not produce a result: {other:?}"),
        }
    }
}

/// How a test run reaches its sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `Job` straight away.
    Cold,
    /// `Prepare(profile)`, then the `Job` (pre-isolated, interpreter started at release).
    Prepared,
    /// `Prepare(profile)` with `prestart`, then the `Job` (interpreter already running).
    Prestarted,
    /// Like [`Mode::Prestarted`], the interpreter forked by this process's fork server
    /// ([`fork::fork_server`]; Python only).
    Forked,
}

/// Runs `spec` in `mode` (the profile is `spec` without its user part, with `prestart` for
/// [`Mode::Prestarted`]); returns the final frame.
pub fn frame_in(spec: &JobSpec, mode: Mode) -> RunnerFrame {
    talk_in(spec, mode).last
}

/// Runs `spec` in `mode`; returns everything the runner said after the job, with timings.
pub fn talk_in(spec: &JobSpec, mode: Mode) -> Conversation {
    let mut child = Runner::start();
    let talk = converse_in(&mut child, spec, mode);
    child.wait();
    talk
}

/// Runs `spec` in `mode` and returns its result.
pub fn run_in(spec: &JobSpec, mode: Mode) -> JobResult {
    match frame_in(spec, mode) {
        RunnerFrame::Result(r) => *r,
        other => panic!("runner did not produce a result in {mode:?}: {other:?}"),
    }
}

fn converse_in(child: &mut Runner, spec: &JobSpec, mode: Mode) -> Conversation {
    // The fork server takes Python only, and never a ZK job (pre-started interpreters don't).
    let mode = match mode {
        Mode::Forked if spec.zk.is_some() => Mode::Prepared,
        Mode::Forked if spec.language == Language::Javascript => Mode::Prestarted,
        mode => mode,
    };
    let mut spec = spec.clone();
    spec.prestart = matches!(mode, Mode::Prestarted | Mode::Forked);
    if mode == Mode::Forked {
        spec.fork_server = Some(fork::fork_server());
    }
    if spec.egress.is_none() && !spec.session && spec.netns.is_none() {
        child.lease_netns(&mut spec);
    }
    let profile = (mode != Mode::Cold).then(|| {
        let mut profile = spec.clone();
        profile.code.clear();
        profile.stdin.clear();
        profile.args.clear();
        profile.env.clear();
        profile.zk = None;
        profile.files.clear();
        profile.output = None;
        profile.stream = false;
        profile
    });
    converse_with(child, profile.as_ref(), &spec)
}

/// `Prepare(profile)` (when given), then `Job(job)`; returns what the runner said.
fn converse_with(child: &mut Runner, profile: Option<&JobSpec>, job: &JobSpec) -> Conversation {
    let mut input = child.stdin.take().unwrap();
    let mut out = child.stdout.take().unwrap();
    let send = |input: &mut std::fs::File, frame: &ServerFrame| {
        input
            .write_all(&protocol::encode_frame(frame).unwrap())
            .unwrap()
    };
    let job = ServerFrame::Job(Box::new(job.clone()));
    if let Some(profile) = profile {
        send(&mut input, &ServerFrame::Prepare(Box::new(profile.clone())));
        let RunnerFrame::Ready(ready) = protocol::read_frame(&mut out).unwrap() else {
            panic!("first frame must be Ready")
        };
        let sent = match protocol::read_frame(&mut out).unwrap() {
            RunnerFrame::Ready(r) if r.preisolated => {
                send(&mut input, &job);
                Instant::now()
            }
            other => {
                return Conversation {
                    pid: ready.pid,
                    chunks: Vec::new(),
                    last: other,
                    last_at: Duration::ZERO,
                }
            }
        };
        drop(input);
        return until_the_end(&mut out, ready.pid, sent);
    }
    send(&mut input, &job);
    let sent = Instant::now();
    drop(input);
    let RunnerFrame::Ready(ready) = protocol::read_frame(&mut out).unwrap() else {
        panic!("first frame must be Ready")
    };
    until_the_end(&mut out, ready.pid, sent)
}

/// Reads `Output` frames until the final one, noting when each arrived.
fn until_the_end(out: &mut impl std::io::Read, pid: i32, sent: Instant) -> Conversation {
    let mut chunks = Vec::new();
    loop {
        match protocol::read_frame(out).unwrap() {
            RunnerFrame::Output(chunk) => chunks.push((sent.elapsed(), chunk)),
            last => {
                return Conversation {
                    pid,
                    chunks,
                    last,
                    last_at: sent.elapsed(),
                }
            }
        }
    }
}

/// Prepares a runner with `profile`, then sends `job`; returns the final frame.
pub fn frame_prepared(profile: &JobSpec, job: &JobSpec) -> RunnerFrame {
    let mut child = Runner::start();
    let last = converse_with(&mut child, Some(profile), job).last;
    child.wait();
    last
}

/// Runs `spec` through a fresh runner; the runner gets `extra_env` (to prove it does not leak).
pub fn run_with_env(spec: &JobSpec, extra_env: &[(&str, &str)]) -> Session {
    let mut child = Runner::start_with_env(extra_env);
    let (runner_pid, frame) = converse(&mut child, spec);
    child.wait();
    match frame {
        RunnerFrame::Result(result) => Session {
            runner_pid,
            result: *result,
        },
        other => panic!("runner did not produce a result: {other:?}"),
    }
}

/// Runs `spec` (in the warm path `PYTH_ON_TEST_PREPARED` selects) in a runner forked by the
/// test process's runner spawner, whatever `PYTH_ON_TEST_SPAWNER` says.
pub fn run_forked(spec: &JobSpec) -> JobResult {
    let mut child = Runner::start_forked();
    let (_, frame) = converse(&mut child, spec);
    child.wait();
    match frame {
        RunnerFrame::Result(result) => *result,
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
    let mut child = Runner::start();
    let (_, last) = converse(&mut child, spec);
    child.wait();
    last
}
