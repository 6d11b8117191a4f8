//! One fork server per test process, started on first use through the real runner binary.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use pyth_on_sandbox::protocol::{
    self, ForkServerConfig, ForkServerRef, Language, RunnerFrame, ServerFrame,
};

/// The fork server and the pipe that keeps it alive (EOF when this process exits, or when
/// [`Guard::retire`] drops it).
struct Server {
    reference: ForkServerRef,
    stdin: Mutex<Option<ChildStdin>>,
    _child: Mutex<Child>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// This test process's fork server (Python).
pub fn fork_server() -> ForkServerRef {
    SERVER.get_or_init(|| start(&[])).reference.clone()
}

/// A fork server of its own, its runner started through `wrapper` (e.g. `setpriv` with
/// options); it lives until the returned guard is dropped.
pub fn fork_server_through(wrapper: &[&str]) -> (ForkServerRef, Guard) {
    let server = start(wrapper);
    (server.reference.clone(), Guard(server))
}

/// Kills its fork server when dropped.
pub struct Guard(Server);

impl Guard {
    /// Retires the fork server as the server does: EOF on its stdin.
    pub fn retire(&self) {
        if let Ok(mut stdin) = self.0.stdin.lock() {
            stdin.take();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut child) = self.0._child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start(wrapper: &[&str]) -> Server {
    let runner = env!("CARGO_BIN_EXE_pyth-on-runner");
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(runner);
            c
        }
        None => Command::new(runner),
    };
    let mut child = command
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn runner");
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let RunnerFrame::Ready(_) = protocol::read_frame(&mut out).unwrap() else {
        panic!("first frame must be Ready")
    };
    let socket = format!("pyth-on-test-{}-{}", std::process::id(), child.id());
    let config = ForkServerConfig {
        language: Language::Python,
        interpreter: "/usr/bin/python3".into(),
        socket: socket.clone(),
    };
    stdin
        .write_all(&protocol::encode_frame(&ServerFrame::ForkServer(config)).unwrap())
        .unwrap();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let pid: i32 = line
        .strip_prefix("ready ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("the fork server did not start: {line:?}"));
    assert_eq!(
        pid,
        child.id() as i32,
        "the runner itself becomes the fork server"
    );
    Server {
        reference: ForkServerRef {
            socket,
            pid,
            interpreter: "/usr/bin/python3".into(),
        },
        stdin: Mutex::new(Some(stdin)),
        _child: Mutex::new(child),
    }
}
