//! Puts the git revision the binary is built from into `PYTH_ON_GIT_REVISION` for
//! `pyth-on --version`: `git rev-parse --short HEAD`, with `-dirty` when tracked files differ
//! from it; `unknown` outside a git checkout (a source tarball) or without git.
#![allow(
    clippy::print_stdout,
    reason = "cargo reads a build script's instructions from its standard output"
)]

use std::path::Path;
use std::process::Command;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let revision = revision(Path::new(&dir)).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=PYTH_ON_GIT_REVISION={revision}");
    // A commit, checkout or `git add` changes one of these: the revision is read again then.
    for name in ["HEAD", "index", "logs/HEAD"] {
        if let Some(path) = git(Path::new(&dir), &["rev-parse", "--git-path", name]) {
            let path = Path::new(&dir).join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// `abc1234` or `abc1234-dirty`; `None` when `dir` is not in a git checkout.
fn revision(dir: &Path) -> Option<String> {
    let head = git(dir, &["rev-parse", "--short", "HEAD"])?;
    let dirty = git(dir, &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|status| !status.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}

/// The trimmed standard output of `git ARGS` run in `dir`, when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_owned())
}
