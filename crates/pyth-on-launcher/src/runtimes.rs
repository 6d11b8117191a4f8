//! Finding the real interpreters once, at start-up.
//!
//! A configured path, or the default (`/usr/bin/python3`, `/usr/bin/node`, else the first on
//! `PATH`), is asked where it really lives (`sys.executable` / `process.execPath`) with a
//! scrubbed environment, then canonicalised. That resolves pyenv-style shims to the binary
//! behind them, so a run never pays a shim's start-up (about 127 ms here) and never execs a
//! script the sandbox cannot follow. The interpreter's install prefix is added to the read-only
//! mounts when it is not already under one of the base mounts (e.g.
//! `/root/.pyenv/versions/3.11.7`; the sandbox recreates `/root` as a traversable directory on
//! its own tmpfs, so a mode-0700 `/root` on the host is no obstacle).
//!
//! A runtime that cannot be found or does not answer is `None` plus a `tracing` warning.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pyth_on_sandbox::rootfs::BASE_RO_MOUNTS;
use pyth_on_sandbox::Language;
use tokio::process::Command;

/// Which interpreters to use; `None` means "find the default".
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// Python interpreter (a shim is resolved to the real binary).
    pub python: Option<PathBuf>,
    /// Node.js binary.
    pub node: Option<PathBuf>,
}

/// One usable interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// Language it runs.
    pub language: Language,
    /// Canonical path of the real binary.
    pub interpreter: PathBuf,
    /// `3.11.2`, `20.20.2`.
    pub version: String,
    /// Host paths to bind read-only into each run.
    pub ro_mounts: Vec<PathBuf>,
}

/// What the API shows about a language.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LanguageInfo {
    /// Canonical name: `python` or `javascript`.
    pub name: &'static str,
    /// Interpreter version.
    pub version: String,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
}

/// The detected runtimes.
#[derive(Debug, Clone, Default)]
pub struct Runtimes {
    /// Python, if found.
    pub python: Option<Runtime>,
    /// Node.js, if found.
    pub javascript: Option<Runtime>,
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

const PY_PROBE: &str =
    "import sys; print(sys.executable); print(sys.base_prefix); print('%d.%d.%d' % sys.version_info[:3])";
const NODE_PROBE: &str = "process.execPath + '\\n' + process.versions.node";

impl Runtimes {
    /// Detects both runtimes. Never fails: a missing one is `None` and a warning.
    pub async fn detect(cfg: &RuntimeConfig) -> Runtimes {
        let python = match candidate(cfg.python.as_deref(), "/usr/bin/python3", "python3") {
            Some(p) => probe_python(&p).await,
            None => None,
        };
        let javascript = match candidate(cfg.node.as_deref(), "/usr/bin/node", "node") {
            Some(p) => probe_node(&p).await,
            None => None,
        };
        if python.is_none() {
            tracing::warn!(
                language = "python",
                "no usable Python interpreter; python runs disabled"
            );
        }
        if javascript.is_none() {
            tracing::warn!(
                language = "javascript",
                "no usable Node.js; javascript runs disabled"
            );
        }
        Runtimes { python, javascript }
    }

    /// The runtime for `language`.
    pub fn get(&self, language: Language) -> Option<&Runtime> {
        match language {
            Language::Python => self.python.as_ref(),
            Language::Javascript => self.javascript.as_ref(),
        }
    }

    /// Available languages with versions and aliases.
    pub fn languages(&self) -> Vec<LanguageInfo> {
        let mut out = Vec::new();
        if let Some(r) = &self.python {
            out.push(LanguageInfo {
                name: Language::Python.as_str(),
                version: r.version.clone(),
                aliases: Language::Python.aliases(),
            });
        }
        if let Some(r) = &self.javascript {
            out.push(LanguageInfo {
                name: Language::Javascript.as_str(),
                version: r.version.clone(),
                aliases: Language::Javascript.aliases(),
            });
        }
        out
    }
}

fn candidate(configured: Option<&Path>, default: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = configured {
        return Some(p.to_owned());
    }
    if Path::new(default).exists() {
        return Some(default.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

async fn ask(bin: &Path, args: &[&str]) -> Option<String> {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(PROBE_TIMEOUT, cmd.output()).await {
        Ok(Ok(out)) if out.status.success() => out,
        Ok(Ok(out)) => {
            tracing::warn!(interpreter = %bin.display(), status = %out.status, "runtime probe failed");
            return None;
        }
        Ok(Err(e)) => {
            tracing::warn!(interpreter = %bin.display(), error = %e, "runtime probe could not start");
            return None;
        }
        Err(_) => {
            tracing::warn!(interpreter = %bin.display(), "runtime probe timed out");
            return None;
        }
    };
    String::from_utf8(out.stdout).ok()
}

async fn probe_python(bin: &Path) -> Option<Runtime> {
    let out = ask(bin, &["-I", "-S", "-c", PY_PROBE]).await?;
    let mut lines = out.lines();
    let exe = std::fs::canonicalize(lines.next()?).ok()?;
    let base_prefix = PathBuf::from(lines.next()?);
    let version = lines.next()?.trim().to_owned();
    Some(Runtime {
        language: Language::Python,
        ro_mounts: mounts_for(&[&base_prefix, exe.parent()?]),
        interpreter: exe,
        version,
    })
}

async fn probe_node(bin: &Path) -> Option<Runtime> {
    let out = ask(bin, &["-p", NODE_PROBE]).await?;
    let mut lines = out.lines();
    let exe = std::fs::canonicalize(lines.next()?).ok()?;
    let version = lines.next()?.trim().to_owned();
    // <prefix>/bin/node
    let prefix = exe.parent()?.parent()?.to_owned();
    Some(Runtime {
        language: Language::Javascript,
        ro_mounts: mounts_for(&[&prefix, exe.parent()?]),
        interpreter: exe,
        version,
    })
}

/// The base mounts plus each extra path not already covered by one of them.
pub fn mounts_for(extra: &[&Path]) -> Vec<PathBuf> {
    let mut mounts: Vec<PathBuf> = BASE_RO_MOUNTS.iter().map(PathBuf::from).collect();
    for p in extra {
        let covered = mounts.iter().any(|m| p.starts_with(m));
        if !covered && p.is_absolute() && *p != Path::new("/") {
            mounts.push(p.to_path_buf());
        }
    }
    mounts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_map_to_languages() {
        assert_eq!(Language::from_name("py"), Some(Language::Python));
        assert_eq!(Language::from_name(" Python3 "), Some(Language::Python));
        assert_eq!(Language::from_name("nodejs"), Some(Language::Javascript));
        assert_eq!(Language::from_name("ruby"), None);
    }

    #[test]
    fn interpreter_prefixes_outside_usr_are_added_to_the_mounts() {
        let m = mounts_for(&[Path::new("/usr"), Path::new("/root/.pyenv/versions/3.11.7")]);
        assert!(m.contains(&PathBuf::from("/root/.pyenv/versions/3.11.7")));
        assert_eq!(m.iter().filter(|p| p.starts_with("/usr")).count(), 1);
        assert!(!mounts_for(&[Path::new("/")]).contains(&PathBuf::from("/")));
    }

    #[tokio::test]
    async fn missing_runtimes_are_none_not_errors() {
        let cfg = RuntimeConfig {
            python: Some("/nonexistent/python3".into()),
            node: Some("/nonexistent/node".into()),
        };
        let r = Runtimes::detect(&cfg).await;
        assert!(r.python.is_none() && r.javascript.is_none());
        assert!(r.languages().is_empty());
    }
}
