//! The fork server's native library beside the runner: missing, or from another build.

use std::io::{BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use pyth_on_sandbox::fork_server::{BUILD_MARKER, NATIVE_LIBRARY};
use pyth_on_sandbox::protocol::{self, ForkServerConfig, Language, RunnerFrame, ServerFrame};

use crate::common::privileged;

#[test]
fn a_runner_without_the_fork_servers_library_beside_it_says_it_is_missing() {
    privileged();
    let dir = tempfile::tempdir().unwrap();
    let error = fork_server_failure(dir.path());
    let missing = dir.path().join(NATIVE_LIBRARY);
    assert!(
        error.contains(&format!("{} is missing", missing.display())),
        "{error}"
    );
}

#[test]
fn a_runner_refuses_a_library_from_another_build() {
    privileged();
    let dir = tempfile::tempdir().unwrap();
    // This build's library with one digit of its sources' fingerprint changed: what a library
    // left from another build looks like to the runner.
    let built = Path::new(env!("CARGO_BIN_EXE_pyth-on-runner")).with_file_name(NATIVE_LIBRARY);
    let mut library = std::fs::read(built).unwrap();
    let marker = BUILD_MARKER.as_bytes();
    let at = memchr::memmem::find(&library, marker).expect("the library carries its build");
    let last_digit = at + marker.len() - 2;
    library[last_digit] = if library[last_digit] == b'0' {
        b'1'
    } else {
        b'0'
    };
    std::fs::write(dir.path().join(NATIVE_LIBRARY), library).unwrap();
    let error = fork_server_failure(dir.path());
    assert!(error.contains("is from another build"), "{error}");
}

/// Asks a copy of the runner in `dir` to become a fork server; the error it answers.
fn fork_server_failure(dir: &Path) -> String {
    let runner = dir.join("pyth-on-runner");
    // Copied by `cp`: a copy written here would leave its descriptor open, for an instant,
    // in any process another test thread forks meanwhile, and the exec would then fail with
    // ETXTBSY.
    let copied = Command::new("cp")
        .arg(env!("CARGO_BIN_EXE_pyth-on-runner"))
        .arg(&runner)
        .status()
        .unwrap();
    assert!(copied.success());
    let mut child = Command::new(&runner)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let RunnerFrame::Ready(_) = protocol::read_frame(&mut out).unwrap() else {
        panic!("first frame must be Ready")
    };
    let config = ServerFrame::ForkServer(ForkServerConfig {
        language: Language::Python,
        interpreter: "/usr/bin/python3".into(),
        socket: format!("pyth-on-test-refused-{}-{}", std::process::id(), child.id()),
    });
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(&protocol::encode_frame(&config).unwrap())
        .unwrap();
    let frame = protocol::read_frame(&mut out).unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
    match frame {
        RunnerFrame::Failed { error } => error,
        other => panic!("expected Failed, got {other:?}"),
    }
}
