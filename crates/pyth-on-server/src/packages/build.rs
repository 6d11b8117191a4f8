//! One build: a work directory on the host whose `env` is owned by the build's own uid, the
//! installer (argument arrays, never a shell) run **inside a build sandbox**
//! ([`super::sandbox`]) that can write only that directory, then a size bound and a
//! root-owned read-only tree renamed into place. No code of any package runs on the host.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use pyth_on_launcher::JobResult;
use tokio::process::Command;

use super::config::PackageConfig;
use super::files::{install, seal, tree_size};
use super::installer::invocation;
use super::sandbox::{BuildJob, BuildSandbox};
use super::PackageError;
use crate::domain::Language;
use crate::runs::Slot as FairSlot;

/// How much of the installer's output is kept for the error message.
pub const MESSAGE_TAIL_BYTES: usize = 4096;
/// How many lines of it.
pub const MESSAGE_TAIL_LINES: usize = 30;

/// Creates the environments root, root-owned 0711 (traversable, not listable).
pub fn prepare_root(root: &Path) -> Result<(), PackageError> {
    std::fs::create_dir_all(root)
        .map_err(PackageError::io(format!("creating {}", root.display())))?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o711))
        .map_err(PackageError::io(format!("chmod 0711 {}", root.display())))
}

/// Creates the build directory, root-only 0700, and removes what a crashed server left in it
/// (builds in progress at a crash never finished).
pub fn prepare_build_dir(dir: &Path) -> Result<(), PackageError> {
    std::fs::create_dir_all(dir)
        .map_err(PackageError::io(format!("creating {}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(PackageError::io(format!("chmod 0700 {}", dir.display())))?;
    let entries =
        std::fs::read_dir(dir).map_err(PackageError::io(format!("reading {}", dir.display())))?;
    for entry in entries.flatten() {
        let _ = std::fs::remove_dir_all(entry.path());
    }
    Ok(())
}

/// `sys.version` of the interpreter, the part of the key that keeps builds per version.
pub async fn python_version(python: &Path) -> Result<String, String> {
    probe(python, &["-c", "import sys; print(sys.version)"]).await
}

/// `node --version` next to `npm` (or on `PATH`).
pub async fn node_version(npm: Option<&Path>) -> Result<String, String> {
    let npm = npm.ok_or("npm was not found")?;
    let node = npm
        .parent()
        .map(|d| d.join("node"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("node"));
    probe(&node, &["--version"]).await
}

async fn probe(program: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("running {}: {e}", program.display()))?;
    if !out.status.success() {
        return Err(format!("{} exited with {}", program.display(), out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Builds `specs` into `<root>/<key>` in a build sandbox, holding `permit` (a build slot)
/// while it runs; the size on success, else the message to keep (no host paths).
pub async fn build(
    cfg: Arc<PackageConfig>,
    sandbox: BuildSandbox,
    key: String,
    language: Language,
    specs: Vec<String>,
    permit: FairSlot,
) -> Result<u64, String> {
    let final_dir = cfg.root.join(&key);
    if final_dir.is_dir() {
        return blocking(move || tree_size(&final_dir)).await;
    }
    let work = cfg
        .build_dir
        .join(format!("{}-{}", &key[..16], uuid::Uuid::now_v7().simple()));
    let result = build_in(&cfg, &sandbox, &work, &final_dir, language, &specs, permit).await;
    let cleanup = work.clone();
    let _ = blocking(move || {
        remove_work(&cleanup);
        Ok(())
    })
    .await;
    result
}

async fn build_in(
    cfg: &PackageConfig,
    sandbox: &BuildSandbox,
    work: &Path,
    final_dir: &Path,
    language: Language,
    specs: &[String],
    permit: FairSlot,
) -> Result<u64, String> {
    let identity = sandbox.lease_uid()?;
    let uid = identity.id();
    let env_dir = work.join("env");
    prepare_work(cfg, work.to_owned(), env_dir.clone(), uid).await?;
    let inv = invocation(cfg, language, specs)?;
    let job = BuildJob {
        language,
        invocation: &inv,
        env_dir: &env_dir,
        uid,
    };
    // Returns once the build's sandbox is gone: nothing of it runs while the tree is read.
    let result = sandbox.run(cfg, job, permit).await?;
    drop(identity);
    check_result(cfg, &result)?;
    let (max, root, final_dir) = (cfg.max_env_bytes, cfg.root.clone(), final_dir.to_owned());
    blocking(move || {
        let size = tree_size(&env_dir)?;
        if size > max {
            return Err(format!(
                "the environment is {} MiB, over the {} MiB limit",
                size.div_ceil(1 << 20),
                max >> 20
            ));
        }
        seal(&env_dir).map_err(|e| format!("sealing the environment: {e}"))?;
        install(&env_dir, &root, &final_dir)?;
        Ok(size)
    })
    .await
}

/// `work` (root-owned 0700) and inside it `env`: as root, a tmpfs of its own owned by the
/// build's uid, capped at `max_env_bytes` and `max_env_files` (its pages count against the
/// build's memory), the one place the build sandbox may write (bound at [`ENV_PATH`]); its
/// contents are copied out after the build and the mount is dropped whole.
async fn prepare_work(
    cfg: &PackageConfig,
    work: PathBuf,
    env_dir: PathBuf,
    uid: u32,
) -> Result<(), String> {
    let privileged = nix::unistd::geteuid().is_root();
    let options = format!(
        "size={},nr_inodes={},mode=0700,uid={uid},gid={uid}",
        cfg.max_env_bytes.max(1 << 20),
        cfg.max_env_files.max(16)
    );
    blocking(move || {
        for dir in [&work, &env_dir] {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating a build directory: {e}"))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| e.to_string())?;
        }
        if privileged {
            use nix::mount::{mount, MsFlags};
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            mount(
                Some("tmpfs"),
                &env_dir,
                Some("tmpfs"),
                flags,
                Some(options.as_str()),
            )
            .map_err(|e| format!("mounting the build's tmpfs: {e}"))?;
        }
        Ok(())
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "preparing a package build");
        "the build could not be prepared".to_string()
    })
}

/// Drops a build's work directory: its `env` tmpfs is detached whole (however the build
/// shaped it), then the rest, which holds no tree of the build's, is removed.
pub fn remove_work(work: &Path) {
    let env_dir = work.join("env");
    let _ = nix::mount::umount2(&env_dir, nix::mount::MntFlags::MNT_DETACH);
    if let Err(e) = std::fs::remove_dir_all(work) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(error = %e, "removing a package build's work directory");
        }
    }
}

/// A build that did not exit 0 becomes its reason, with the installer's relevant lines.
fn check_result(cfg: &PackageConfig, result: &JobResult) -> Result<(), String> {
    if result.timed_out {
        return Err(format!(
            "the install took longer than {} s and was stopped",
            cfg.build_timeout.as_secs()
        ));
    }
    if result.memory_exceeded {
        return Err(format!(
            "the install ran out of memory ({} MiB) and was stopped",
            cfg.build_memory_mb
        ));
    }
    if result.output_truncated {
        return Err("the installer's output passed its limit and the install was stopped".into());
    }
    if result.exit_code == 0 {
        return Ok(());
    }
    let text = relevant_lines(&result.stderr, &result.stdout);
    Err(if text.is_empty() {
        format!("the installer exited with status {}", result.exit_code)
    } else {
        text
    })
}

/// The lines of an installer's log worth showing: stderr (else stdout) without colour codes,
/// blank lines, uv's interpreter note or npm's pointer to its debug log, the last [`MESSAGE_TAIL_LINES`] lines and at
/// most [`MESSAGE_TAIL_BYTES`].
pub fn relevant_lines(stderr: &str, stdout: &str) -> String {
    let source = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    let clean = strip_ansi(source);
    let lines: Vec<&str> = clean
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.contains("complete log of this run") && !l.contains("/_logs/"))
        // uv's note of which interpreter it targets: not part of the failure.
        .filter(|l| !l.starts_with("Using CPython") && !l.starts_with("Using Python"))
        .collect();
    let tail = lines[lines.len().saturating_sub(MESSAGE_TAIL_LINES)..].join("\n");
    if tail.len() <= MESSAGE_TAIL_BYTES {
        return tail;
    }
    let mut cut = tail.len() - MESSAGE_TAIL_BYTES;
    while !tail.is_char_boundary(cut) {
        cut += 1;
    }
    tail[cut..].to_string()
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(format!("blocking task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_keeps_the_installers_last_lines_without_colour_or_log_pointers() {
        let stderr = "Using CPython 3.11.2 interpreter at: /usr/bin/python3.11\n\u{1b}[31merror\u{1b}[0m: first\n\n  second  \nnpm error A complete log of this run can be found in: /work/.npm/_logs/x.log\n";
        assert_eq!(relevant_lines(stderr, "ignored"), "error: first\n  second");
        assert_eq!(relevant_lines("  \n", "from stdout\n"), "from stdout");
        let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let kept = relevant_lines(&long, "");
        assert_eq!(kept.lines().count(), MESSAGE_TAIL_LINES);
        assert!(kept.ends_with("line 99"));
    }
}
