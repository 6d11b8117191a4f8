//! Running the installer: a temporary directory owned by the build user, a scrubbed
//! environment, argument arrays (never a shell), a process group killed on timeout, a size
//! bound, then a root-owned read-only tree renamed into place.

use std::ffi::OsString;
use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::env::PackageConfig;
use super::files::{install, seal, tree_size};
use super::PackageError;
use crate::domain::Language;

/// How much of the installer's output is kept for the error message.
pub const MESSAGE_TAIL_BYTES: usize = 4096;

/// Creates the environments root, root-owned 0711 (traversable, not listable).
pub fn prepare_root(root: &Path) -> Result<(), PackageError> {
    std::fs::create_dir_all(root)
        .map_err(PackageError::io(format!("creating {}", root.display())))?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o711))
        .map_err(PackageError::io(format!("chmod 0711 {}", root.display())))
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

/// The installer invocation for `specs` into `env_dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments; the specs come last, after `--`.
    pub args: Vec<OsString>,
    /// The whole environment (nothing is inherited).
    pub env: Vec<(String, OsString)>,
}

/// Builds the installer command line: no shell, options first, `--`, then the specs.
pub fn invocation(
    cfg: &PackageConfig,
    language: Language,
    env_dir: &Path,
    home: &Path,
    specs: &[String],
) -> Result<Invocation, String> {
    let mut env: Vec<(String, OsString)> = vec![
        ("HOME".into(), home.into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("TMPDIR".into(), home.into()),
    ];
    let mut args: Vec<OsString> = Vec::new();
    let program = match language {
        Language::Python => {
            let target = env_dir.join("site-packages");
            env.push(("PYTHONNOUSERSITE".into(), "1".into()));
            if let Some(uv) = &cfg.uv {
                env.push(("UV_NO_CONFIG".into(), "1".into()));
                env.push(("UV_CACHE_DIR".into(), home.join("uv-cache").into()));
                env.push(("UV_PYTHON_DOWNLOADS".into(), "never".into()));
                // `--system-certs`: trust the host's CA store (a deployment's TLS-inspecting proxy
                // or private mirror), as pip does; uv's bundled roots alone refuse them.
                args.extend(
                    [
                        "pip",
                        "install",
                        "--no-cache",
                        "--compile-bytecode",
                        "--system-certs",
                    ]
                    .map(Into::into),
                );
                args.extend(["--target".into(), target.into_os_string()]);
                args.extend(["--python".into(), cfg.python.clone().into_os_string()]);
                if let Some(url) = &cfg.pypi_index_url {
                    args.extend(["--index-url".into(), url.into()]);
                }
                uv.clone()
            } else {
                env.push(("PIP_CONFIG_FILE".into(), "/dev/null".into()));
                args.extend(
                    [
                        "-m",
                        "pip",
                        "install",
                        "--isolated",
                        "--no-input",
                        "--disable-pip-version-check",
                        "--no-cache-dir",
                        "--no-warn-script-location",
                    ]
                    .map(Into::into),
                );
                args.extend(["--target".into(), target.into_os_string()]);
                if let Some(url) = &cfg.pypi_index_url {
                    args.extend(["--index-url".into(), url.into()]);
                }
                cfg.python.clone()
            }
        }
        Language::Javascript => {
            let npm = cfg.node_npm.clone().ok_or("npm was not found")?;
            env.push(("npm_config_cache".into(), home.join(".npm").into()));
            env.push(("npm_config_userconfig".into(), home.join(".npmrc").into()));
            env.push(("npm_config_update_notifier".into(), "false".into()));
            args.extend(
                [
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--ignore-scripts",
                    "--no-package-lock",
                    "--loglevel=warn",
                ]
                .map(Into::into),
            );
            args.extend(["--prefix".into(), env_dir.as_os_str().to_owned()]);
            if let Some(url) = &cfg.npm_registry {
                args.extend(["--registry".into(), url.into()]);
            }
            npm
        }
    };
    let mut path = OsString::new();
    if let Some(dir) = program.parent().filter(|d| !d.as_os_str().is_empty()) {
        path.push(dir);
        path.push(":");
    }
    path.push("/usr/local/bin:/usr/bin:/bin");
    env.push(("PATH".into(), path));
    args.push("--".into());
    args.extend(specs.iter().map(Into::into));
    Ok(Invocation { program, args, env })
}

/// Builds `specs` into `<root>/<key>`; the size on success, else the message to keep.
pub async fn build(
    cfg: Arc<PackageConfig>,
    key: String,
    language: Language,
    specs: Vec<String>,
) -> Result<u64, String> {
    let final_dir = cfg.root.join(&key);
    if final_dir.is_dir() {
        return blocking(move || tree_size(&final_dir)).await;
    }
    let work = cfg.build_dir.join(format!(
        "pyth-on-build-{}-{}",
        &key[..16],
        uuid::Uuid::now_v7().simple()
    ));
    let result = build_in(&cfg, &work, &final_dir, language, &specs).await;
    let cleanup = work.clone();
    let _ = blocking(move || {
        if cleanup.exists() {
            std::fs::remove_dir_all(&cleanup).map_err(|e| e.to_string())?;
        }
        Ok(0)
    })
    .await;
    result
}

async fn build_in(
    cfg: &PackageConfig,
    work: &Path,
    final_dir: &Path,
    language: Language,
    specs: &[String],
) -> Result<u64, String> {
    let privileged = nix::unistd::geteuid().is_root();
    let (start, count) = cfg.build_ids;
    let random = u32::try_from(uuid::Uuid::now_v7().as_u128() & 0xffff_ffff).unwrap_or(0);
    let build_id = start.saturating_add(random % count.max(1));
    let (home, env_dir) = (work.join("home"), work.join("env"));
    {
        let (work, home, env_dir) = (work.to_owned(), home.clone(), env_dir.clone());
        let (uid, gid) = (build_id, build_id);
        blocking(move || {
            for dir in [&work, &home, &env_dir] {
                std::fs::create_dir(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| e.to_string())?;
                if privileged {
                    lchown(dir, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
                }
            }
            Ok(0)
        })
        .await
        .map_err(|e| format!("could not prepare the build directory: {e}"))?;
    }
    let inv = invocation(cfg, language, &env_dir, &home, specs)?;
    let mut cmd = Command::new(&inv.program);
    cmd.args(&inv.args)
        .env_clear()
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if privileged {
        cmd.uid(build_id).gid(build_id);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", inv.program.display()))?;
    let pgid = child.id().and_then(|id| i32::try_from(id).ok());
    let stdout = tokio::spawn(tail(child.stdout.take()));
    let stderr = tokio::spawn(tail(child.stderr.take()));
    let waited = tokio::time::timeout(cfg.build_timeout, child.wait()).await;
    kill_group(pgid);
    let status = match waited {
        Ok(status) => status.map_err(|e| format!("waiting for the installer: {e}"))?,
        Err(_) => {
            let _ = child.wait().await;
            return Err(format!(
                "the install took longer than {} s and was stopped",
                cfg.build_timeout.as_secs()
            ));
        }
    };
    let grace = Duration::from_secs(5);
    let out = tokio::time::timeout(grace, stdout)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let err = tokio::time::timeout(grace, stderr)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    if !status.success() {
        let text = if err.trim().is_empty() { out } else { err };
        let text = text.trim();
        return Err(if text.is_empty() {
            format!("the installer exited with {status}")
        } else {
            text.to_string()
        });
    }
    let (max, env_dir2, home2, final_dir) = (
        cfg.max_env_bytes,
        env_dir.clone(),
        home.clone(),
        final_dir.to_owned(),
    );
    let root = cfg.root.clone();
    blocking(move || {
        let _ = std::fs::remove_dir_all(&home2);
        let size = tree_size(&env_dir2)?;
        if size > max {
            return Err(format!(
                "the environment is {} MiB, over the {} MiB limit",
                size.div_ceil(1 << 20),
                max >> 20
            ));
        }
        seal(&env_dir2).map_err(|e| format!("sealing the environment: {e}"))?;
        install(&env_dir2, &root, &final_dir)?;
        Ok(size)
    })
    .await
}

fn kill_group(pgid: Option<i32>) {
    if let Some(pgid) = pgid {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The last [`MESSAGE_TAIL_BYTES`] of a stream, lossily decoded.
async fn tail(stream: Option<impl AsyncRead + Unpin>) -> String {
    let Some(mut stream) = stream else {
        return String::new();
    };
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > MESSAGE_TAIL_BYTES {
            kept.drain(..kept.len() - MESSAGE_TAIL_BYTES);
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
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

    fn cfg() -> PackageConfig {
        let mut cfg = PackageConfig::new(Path::new("/data"), "/usr/bin/python3");
        cfg.uv = None;
        cfg.node_npm = Some("/usr/bin/npm".into());
        cfg.pypi_index_url = Some("http://127.0.0.1:9/simple/".into());
        cfg
    }

    #[test]
    fn pip_gets_an_argument_array_with_the_specs_after_a_double_dash() {
        let inv = invocation(
            &cfg(),
            Language::Python,
            Path::new("/b/env"),
            Path::new("/b/home"),
            &["six==1.16.0".into()],
        )
        .unwrap();
        assert_eq!(inv.program, PathBuf::from("/usr/bin/python3"));
        let args: Vec<_> = inv.args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(&args[..3], ["-m", "pip", "install"]);
        assert!(args
            .windows(2)
            .any(|w| w == ["--target", "/b/env/site-packages"]));
        assert!(args
            .windows(2)
            .any(|w| w == ["--index-url", "http://127.0.0.1:9/simple/"]));
        assert_eq!(&args[args.len() - 2..], ["--", "six==1.16.0"]);
    }

    #[test]
    fn uv_targets_the_runs_interpreter() {
        let mut cfg = cfg();
        cfg.uv = Some("/usr/local/bin/uv".into());
        let inv = invocation(
            &cfg,
            Language::Python,
            Path::new("/b/env"),
            Path::new("/b/home"),
            &["six".into()],
        )
        .unwrap();
        let args: Vec<_> = inv.args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(&args[..2], ["pip", "install"]);
        assert!(args
            .windows(2)
            .any(|w| w == ["--python", "/usr/bin/python3"]));
        assert_eq!(&args[args.len() - 2..], ["--", "six"]);
    }

    #[test]
    fn npm_ignores_scripts_and_gets_only_a_scrubbed_environment() {
        let inv = invocation(
            &cfg(),
            Language::Javascript,
            Path::new("/b/env"),
            Path::new("/b/home"),
            &["lodash@4".into()],
        )
        .unwrap();
        let args: Vec<_> = inv.args.iter().map(|a| a.to_str().unwrap()).collect();
        assert!(args.contains(&"--ignore-scripts"));
        assert!(args.windows(2).any(|w| w == ["--prefix", "/b/env"]));
        assert_eq!(&args[args.len() - 2..], ["--", "lodash@4"]);
        let names: Vec<_> = inv.env.iter().map(|(k, _)| k.as_str()).collect();
        for name in &names {
            assert!(
                ["HOME", "LANG", "TMPDIR", "PATH"].contains(name)
                    || name.starts_with("npm_config_"),
                "unexpected variable {name}"
            );
        }
    }
}
