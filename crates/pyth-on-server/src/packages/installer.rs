//! The installer's command line and variables for a build, in the build sandbox's paths:
//! `uv pip install --target` (else `python -m pip`) or `npm install`, no shell, options first,
//! `--`, then the specs; the CA bundle named to each installer.

use std::ffi::OsString;
use std::path::PathBuf;

use super::config::PackageConfig;
use crate::domain::Language;

/// Where the environment being built appears inside the build sandbox.
pub const ENV_PATH: &str = "/build/env";
/// Where the CA bundle appears inside the build sandbox.
pub const CA_BUNDLE_PATH: &str = "/etc/pyth-on/ca-bundle.pem";

/// The installer invocation for `specs`, in the build sandbox's paths: no shell, options
/// first, `--`, then the specs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The executable (a host path, bound read-only at the same path inside).
    pub program: PathBuf,
    /// Its arguments; the specs come last, after `--`.
    pub args: Vec<OsString>,
    /// Variables on top of the sandbox's fixed environment (`HOME=/work`, `TMPDIR=/tmp`,
    /// `PATH`, the proxy variables).
    pub env: Vec<(String, String)>,
}

/// Builds the installer command line for `specs` into [`ENV_PATH`].
pub fn invocation(
    cfg: &PackageConfig,
    language: Language,
    specs: &[String],
) -> Result<Invocation, String> {
    let mut env: Vec<(String, String)> = vec![("NO_COLOR".into(), "1".into())];
    let ca = cfg.ca_bundle.as_ref().map(|_| CA_BUNDLE_PATH.to_string());
    let mut args: Vec<OsString> = Vec::new();
    let program = match language {
        Language::Python => {
            python_invocation(cfg, &mut args, &mut env, ca.as_deref());
            cfg.uv.clone().unwrap_or_else(|| cfg.python.clone())
        }
        Language::Javascript => {
            let npm = cfg.node_npm.clone().ok_or("npm was not found")?;
            env.extend([
                ("npm_config_cache".into(), "/tmp/npm-cache".into()),
                ("npm_config_userconfig".into(), "/work/.npmrc".into()),
                ("npm_config_update_notifier".into(), "false".into()),
                ("npm_config_color".into(), "false".into()),
            ]);
            if let Some(ca) = &ca {
                env.push(("npm_config_cafile".into(), ca.clone()));
                env.push(("NODE_EXTRA_CA_CERTS".into(), ca.clone()));
            }
            let mut fixed = vec!["install", "--no-audit", "--no-fund", "--no-package-lock"];
            if !cfg.npm_install_scripts {
                fixed.push("--ignore-scripts");
            }
            fixed.push("--loglevel=warn");
            args.extend(fixed.into_iter().map(Into::into));
            args.extend(["--prefix".into(), ENV_PATH.into()]);
            if let Some(url) = &cfg.npm_registry {
                args.extend(["--registry".into(), url.into()]);
            }
            npm
        }
    };
    let mut path = String::new();
    if let Some(dir) = program.parent().filter(|d| !d.as_os_str().is_empty()) {
        path.push_str(&dir.to_string_lossy());
        path.push(':');
    }
    path.push_str("/usr/local/bin:/usr/bin:/bin");
    env.push(("PATH".into(), path));
    args.push("--".into());
    args.extend(specs.iter().map(Into::into));
    Ok(Invocation { program, args, env })
}

/// uv (`uv pip install --python <runs' python>`) or `python -m pip`, into
/// `ENV_PATH/site-packages`, trusting `ca` when given.
fn python_invocation(
    cfg: &PackageConfig,
    args: &mut Vec<OsString>,
    env: &mut Vec<(String, String)>,
    ca: Option<&str>,
) {
    let target = format!("{ENV_PATH}/site-packages");
    env.push(("PYTHONNOUSERSITE".into(), "1".into()));
    if let Some(ca) = ca {
        env.push(("SSL_CERT_FILE".into(), ca.into()));
        env.push(("REQUESTS_CA_BUNDLE".into(), ca.into()));
    }
    if cfg.uv.is_some() {
        env.extend([
            ("UV_NO_CONFIG".into(), "1".into()),
            ("UV_CACHE_DIR".into(), "/tmp/uv-cache".into()),
            ("UV_PYTHON_DOWNLOADS".into(), "never".into()),
            ("UV_NO_PROGRESS".into(), "1".into()),
        ]);
        let fixed = ["pip", "install", "--no-cache", "--compile-bytecode"];
        args.extend(fixed.map(Into::into));
        args.extend(["--target".into(), target.into()]);
        args.extend(["--python".into(), cfg.python.clone().into_os_string()]);
        if cfg.wheels_only {
            args.push("--no-build".into());
        }
    } else {
        env.push(("PIP_CONFIG_FILE".into(), "/dev/null".into()));
        let fixed = [
            "-m",
            "pip",
            "install",
            "--no-input",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--no-warn-script-location",
            "--progress-bar=off",
        ];
        args.extend(fixed.map(Into::into));
        args.extend(["--target".into(), target.into()]);
        if let Some(ca) = ca {
            args.extend(["--cert".into(), ca.into()]);
        }
        if cfg.wheels_only {
            args.push("--only-binary=:all:".into());
        }
    }
    if let Some(url) = &cfg.pypi_index_url {
        args.extend(["--index-url".into(), url.into()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg() -> PackageConfig {
        let mut cfg = PackageConfig::new(Path::new("/data"), "/usr/bin/python3");
        cfg.uv = None;
        cfg.node_npm = Some("/usr/bin/npm".into());
        cfg.pypi_index_url = Some("http://127.0.0.1:9/simple/".into());
        cfg.ca_bundle = Some("/etc/ssl/certs/ca-certificates.crt".into());
        cfg
    }

    fn args(inv: &Invocation) -> Vec<&str> {
        inv.args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn pip_gets_an_argument_array_with_the_specs_after_a_double_dash() {
        let inv = invocation(&cfg(), Language::Python, &["six==1.16.0".into()]).unwrap();
        assert_eq!(inv.program, PathBuf::from("/usr/bin/python3"));
        let args = args(&inv);
        assert_eq!(&args[..3], ["-m", "pip", "install"]);
        assert!(args
            .windows(2)
            .any(|w| w == ["--target", "/build/env/site-packages"]));
        assert!(args
            .windows(2)
            .any(|w| w == ["--index-url", "http://127.0.0.1:9/simple/"]));
        assert!(args.windows(2).any(|w| w == ["--cert", CA_BUNDLE_PATH]));
        assert_eq!(&args[args.len() - 2..], ["--", "six==1.16.0"]);
    }

    #[test]
    fn uv_targets_the_runs_interpreter_and_trusts_the_ca_bundle() {
        let mut cfg = cfg();
        cfg.uv = Some("/usr/local/bin/uv".into());
        let inv = invocation(&cfg, Language::Python, &["six".into()]).unwrap();
        let args = args(&inv);
        assert_eq!(&args[..2], ["pip", "install"]);
        assert!(args
            .windows(2)
            .any(|w| w == ["--python", "/usr/bin/python3"]));
        assert!(!args.contains(&"--no-build"));
        assert_eq!(&args[args.len() - 2..], ["--", "six"]);
        assert!(inv
            .env
            .contains(&("SSL_CERT_FILE".into(), CA_BUNDLE_PATH.into())));
    }

    #[test]
    fn wheels_only_refuses_source_builds_in_both_installers() {
        let mut cfg = cfg();
        cfg.wheels_only = true;
        let pip = invocation(&cfg, Language::Python, &["six".into()]).unwrap();
        assert!(args(&pip).contains(&"--only-binary=:all:"));
        cfg.uv = Some("/usr/local/bin/uv".into());
        let uv = invocation(&cfg, Language::Python, &["six".into()]).unwrap();
        assert!(args(&uv).contains(&"--no-build"));
    }

    #[test]
    fn npm_installs_into_the_sandbox_path_with_scripts_as_configured() {
        let mut cfg = cfg();
        let inv = invocation(&cfg, Language::Javascript, &["lodash@4".into()]).unwrap();
        let a = args(&inv);
        assert!(!a.contains(&"--ignore-scripts"));
        assert!(a.windows(2).any(|w| w == ["--prefix", "/build/env"]));
        assert_eq!(&a[a.len() - 2..], ["--", "lodash@4"]);
        assert!(inv
            .env
            .contains(&("npm_config_cafile".into(), CA_BUNDLE_PATH.into())));
        cfg.npm_install_scripts = false;
        let inv = invocation(&cfg, Language::Javascript, &["lodash@4".into()]).unwrap();
        assert!(args(&inv).contains(&"--ignore-scripts"));
    }
}
