//! Finding and running the third-party tools: a missing tool is a failure that says how to
//! install it, never a silent skip.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// How `.ci/run` installs the Python tools.
const INSTALL: &str =
    "/usr/bin/python3 -m pip install --break-system-packages openapi-spec-validator schemathesis";

/// The path of `name` on `PATH`, or a failure naming the install command.
pub fn require(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed (not on PATH): this test needs it. Install it with `{INSTALL}` (as .ci/run does).")
        })
}

/// Runs `program` with `args` in `dir` (where its caches land), stopping it after `limit`.
pub async fn run(program: &PathBuf, args: &[String], dir: &Path, limit: Duration) -> Output {
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(limit, child).await {
        Ok(output) => output.unwrap_or_else(|e| panic!("{} could not run: {e}", program.display())),
        Err(_) => panic!("{} ran longer than {limit:?}", program.display()),
    }
}

/// Standard output and error, for a failure message.
pub fn transcript(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
