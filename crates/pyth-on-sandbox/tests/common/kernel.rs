//! A session driven over the runner's pipes: `Session`, then `Cell` and `File` frames.

use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use pyth_on_sandbox::protocol::{
    self, CellResult, CellSpec, FileOp, FileOpResult, JobResult, JobSpec, RunnerFrame, ServerFrame,
    Stream,
};

use super::privileged;

/// A session driven over the runner's pipes.
pub struct Kernel {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub stdout: ChildStdout,
    pub runner_pid: i32,
}

/// What one cell said.
#[derive(Debug)]
pub struct Cell {
    pub stdout: String,
    #[allow(dead_code, reason = "shown by Debug")]
    pub stderr: String,
    pub result: CellResult,
    /// The session's final status, when the cell ended it.
    pub ended: Option<JobResult>,
}

impl Cell {
    pub fn text(&self) -> Vec<&str> {
        let plain = self.result.results.iter();
        plain
            .filter(|r| r.mime == "text/plain")
            .map(|r| r.data.as_str())
            .collect()
    }
}

pub fn open(mut profile: JobSpec) -> Kernel {
    privileged();
    profile.code = String::new();
    profile.limits.timeout_ms = 120_000; // the session's CPU budget (RLIMIT_CPU)
    let mut child = Command::new(env!("CARGO_BIN_EXE_pyth-on-runner"))
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn runner");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let frame = ServerFrame::Session(Box::new(profile));
    protocol::write_frame(&mut stdin, &frame).unwrap();
    let mut runner_pid = 0;
    loop {
        match protocol::read_frame::<RunnerFrame>(&mut stdout).unwrap() {
            RunnerFrame::Ready(r) if r.preisolated => break,
            RunnerFrame::Ready(r) => runner_pid = r.pid,
            other => panic!("the session did not open: {other:?}"),
        }
    }
    Kernel {
        child,
        stdin: Some(stdin),
        stdout,
        runner_pid,
    }
}

impl Kernel {
    pub fn cell(&mut self, code: &str) -> Cell {
        self.cell_within(code, 10_000)
    }

    pub fn cell_within(&mut self, code: &str, timeout_ms: u64) -> Cell {
        self.send_cell(code, timeout_ms);
        self.answer()
    }

    /// Runs `code` and sends an `Interrupt` frame `after` it was sent.
    #[allow(dead_code, reason = "not every test binary interrupts")]
    pub fn cell_interrupted(&mut self, code: &str, after: std::time::Duration) -> Cell {
        self.send_cell(code, 30_000);
        std::thread::sleep(after);
        self.interrupt();
        self.answer()
    }

    /// Sends an `Interrupt` frame.
    #[allow(dead_code, reason = "not every test binary interrupts")]
    pub fn interrupt(&mut self) {
        protocol::write_frame(self.stdin.as_mut().unwrap(), &ServerFrame::Interrupt).unwrap();
    }

    fn send_cell(&mut self, code: &str, timeout_ms: u64) {
        let frame = ServerFrame::Cell(CellSpec {
            code: code.into(),
            timeout_ms,
        });
        protocol::write_frame(self.stdin.as_mut().unwrap(), &frame).unwrap();
    }

    /// Reads a cell's frames up to its result (and the final status if it ended the session).
    fn answer(&mut self) -> Cell {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let result = loop {
            match protocol::read_frame::<RunnerFrame>(&mut self.stdout).unwrap() {
                RunnerFrame::Output(c) if c.stream == Stream::Stdout => out.extend(c.data),
                RunnerFrame::Output(c) => err.extend(c.data),
                RunnerFrame::CellResult(r) => break *r,
                other => panic!("unexpected frame: {other:?}"),
            }
        };
        let ended = result.session_ended.then(|| {
            match protocol::read_frame::<RunnerFrame>(&mut self.stdout).unwrap() {
                RunnerFrame::Result(r) => *r,
                other => panic!("no final status: {other:?}"),
            }
        });
        Cell {
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
            result,
            ended,
        }
    }

    /// Does one file operation; its answer and, if it ended the session, the final status.
    pub fn file(&mut self, op: FileOp) -> (FileOpResult, Option<JobResult>) {
        protocol::write_frame(self.stdin.as_mut().unwrap(), &ServerFrame::File(op)).unwrap();
        let result = match protocol::read_frame::<RunnerFrame>(&mut self.stdout).unwrap() {
            RunnerFrame::FileResult(r) => *r,
            other => panic!("unexpected frame: {other:?}"),
        };
        let ended = result.session_ended.then(|| {
            match protocol::read_frame::<RunnerFrame>(&mut self.stdout).unwrap() {
                RunnerFrame::Result(r) => *r,
                other => panic!("no final status: {other:?}"),
            }
        });
        (result, ended)
    }

    /// EOF on the runner's stdin; waits for the runner to exit.
    pub fn close(mut self) -> i32 {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "runner: {status}");
        self.runner_pid
    }
}
