//! The program line and environment of a run, built from scratch and validated.
//!
//! argv is `[interpreter, interpreter_args..., flags..., /code/main.<ext>, args...]` (with
//! [`JobSpec::prestart`](crate::protocol::JobSpec::prestart): `-c`/`-e` and the bootstrap of
//! [`crate::warm`] instead of the script; its arguments come with the job) where the
//! runner adds for Python: `-S` (no `site`: its import and the `.pth` hooks it runs cost ~12 ms
//! per start and more at exit; the entry of [`crate::warm`] restores `exit`, `quit` and `help`,
//! and the host's site-packages are deliberately not on a run's `sys.path`: a run sees the
//! standard library and its package environment), `-s` (no user site-packages) and `-B` (no
//! `.pyc` writes; `/work` is small), and runs [`crate::warm::PYTHON_COLD`] with `-c` instead
//! of the script itself. It deliberately does **not** pass `-I`/`-E`, so a package environment
//! is wired in through `PYTHONPATH`. Node gets no flags.
//!
//! The environment never inherits the runner's: it is the fixed allowlist below plus
//! [`JobSpec::env`](crate::protocol::JobSpec::env) (which wins on a name clash).

use std::ffi::CString;
use std::path::Path;

use crate::error::SandboxError;
use crate::protocol::{JobSpec, Language};

/// The fixed part of every run's environment.
pub const BASE_ENV: &[(&str, &str)] = &[
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("HOME", "/work"),
    ("LANG", "C.UTF-8"),
    ("TMPDIR", "/tmp"),
];

/// Added for Python runs: no bytecode files, unbuffered stdio so output written before a
/// timeout or a kill is not lost in a buffer.
pub const PYTHON_ENV: &[(&str, &str)] =
    &[("PYTHONDONTWRITEBYTECODE", "1"), ("PYTHONUNBUFFERED", "1")];

/// The flags every Python run is started with (see the module docs); a fork server's
/// interpreter gets the same ones ([`crate::fork_server`]).
pub const PYTHON_FLAGS: &[&str] = &["-S", "-s", "-B"];

/// execve's three arguments, ready to use after fork (no allocation needed there).
#[derive(Debug, Clone)]
pub struct Command {
    /// The interpreter path.
    pub exe: CString,
    /// Full argv, `argv[0]` included.
    pub argv: Vec<CString>,
    /// `NAME=value` entries.
    pub envp: Vec<CString>,
}

fn c(s: &str, what: &str) -> Result<CString, SandboxError> {
    CString::new(s).map_err(|_| SandboxError::InvalidJob(format!("{what} contains a NUL byte")))
}

/// The fixed part of a run's environment for `language` (before the job's variables).
pub fn base_environment(language: Language) -> Vec<(String, String)> {
    let python: &[(&str, &str)] = match language {
        Language::Python => PYTHON_ENV,
        Language::Javascript => &[],
    };
    BASE_ENV
        .iter()
        .chain(python)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Builds and validates the command of `spec`.
pub fn build(spec: &JobSpec) -> Result<Command, SandboxError> {
    let argv = argv(spec)?;
    let envp = environment(spec)?
        .iter()
        .map(|(k, v)| c(&format!("{k}={v}"), "environment entry"))
        .collect::<Result<_, _>>()?;
    Ok(Command {
        exe: argv[0].clone(),
        argv,
        envp,
    })
}

/// The interpreter, its flags, what it runs (a session kernel, a warm bootstrap, the cold
/// entry or the script) and the program's arguments.
fn argv(spec: &JobSpec) -> Result<Vec<CString>, SandboxError> {
    let interp = spec
        .interpreter
        .to_str()
        .ok_or_else(|| SandboxError::InvalidJob("interpreter path is not UTF-8".into()))?;
    if !Path::new(interp).is_absolute() {
        return Err(SandboxError::InvalidJob(format!(
            "interpreter must be an absolute path, got {interp:?}"
        )));
    }
    let mut argv = vec![c(interp, "interpreter")?];
    for a in &spec.interpreter_args {
        argv.push(c(a, "interpreter argument")?);
    }
    if spec.language == Language::Python {
        for flag in PYTHON_FLAGS {
            argv.push(c(flag, "flag")?);
        }
    }
    match (spec.prestart, spec.language) {
        // A session kernel (crate::session): started like a pre-started interpreter.
        _ if spec.session => {
            for arg in crate::session::kernel::kernel_argv(spec.language) {
                argv.push(c(arg, "session kernel")?);
            }
        }
        // The bootstrap gets the script path and arguments with the job (crate::warm).
        (true, language) => {
            let (flag, boot) = crate::warm::bootstrap(language);
            argv.push(c(flag, "flag")?);
            argv.push(c(boot, "bootstrap")?);
        }
        (false, Language::Python) => {
            argv.push(c("-c", "flag")?);
            argv.push(c(crate::warm::PYTHON_COLD, "entry")?);
        }
        (false, Language::Javascript) => argv.push(c(spec.language.main_file(), "script")?),
    }
    for a in &spec.args {
        argv.push(c(a, "argument")?);
    }
    Ok(argv)
}

/// The base variables, the language's, the job's (checked), then the proxy's when the job
/// has egress (last, so they win).
fn environment(spec: &JobSpec) -> Result<Vec<(String, String)>, SandboxError> {
    let mut env = base_environment(spec.language);
    for var in &spec.env {
        let valid = !var.name.is_empty()
            && !var.name.contains('=')
            && !var.name.contains('\0')
            && !var.value.contains('\0');
        if !valid {
            return Err(SandboxError::InvalidJob(format!(
                "invalid environment variable name {:?}",
                var.name
            )));
        }
        env.retain(|(k, _)| k != &var.name);
        env.push((var.name.clone(), var.value.clone()));
    }
    if spec.egress.is_some() {
        // The run's way out is its proxy (see `crate::egress`).
        for var in crate::egress::proxy_env() {
            env.retain(|(k, _)| k != &var.name);
            env.push((var.name, var.value));
        }
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::EnvVar;

    fn spec(language: Language) -> JobSpec {
        let mut s = crate::protocol::tests::spec();
        s.language = language;
        s.ro_mounts = vec![];
        s.code = String::new();
        s.args = vec!["a b".into()];
        s
    }

    fn strs(v: &[CString]) -> Vec<&str> {
        v.iter().map(|c| c.to_str().unwrap()).collect()
    }

    #[test]
    fn python_runs_the_script_through_the_entry_with_site_and_bytecode_off() {
        let cmd = build(&spec(Language::Python)).unwrap();
        let argv = strs(&cmd.argv);
        assert_eq!(argv[..5], ["/usr/bin/python3", "-S", "-s", "-B", "-c"]);
        assert!(argv[5].contains("/code/main.py") && argv[5].contains("_pyth_on_run"));
        assert_eq!(argv[6..], ["a b"]);
        assert!(strs(&cmd.envp).contains(&"PYTHONUNBUFFERED=1"));
    }

    #[test]
    fn javascript_gets_no_python_variables() {
        let mut s = spec(Language::Javascript);
        s.interpreter = "/usr/bin/node".into();
        let cmd = build(&s).unwrap();
        assert_eq!(strs(&cmd.argv), ["/usr/bin/node", "/code/main.js", "a b"]);
        assert!(!strs(&cmd.envp).iter().any(|e| e.starts_with("PYTHON")));
    }

    #[test]
    fn a_prestarted_interpreter_runs_the_bootstrap_instead_of_the_script() {
        let mut s = spec(Language::Python);
        s.args.clear();
        s.prestart = true;
        let cmd = build(&s).unwrap();
        let argv = strs(&cmd.argv);
        assert_eq!(argv[..5], ["/usr/bin/python3", "-S", "-s", "-B", "-c"]);
        assert!(argv[5].contains("_pyth_on_boot"));
        assert_eq!(argv.len(), 6);
        s.language = Language::Javascript;
        s.interpreter = "/usr/bin/node".into();
        let argv = build(&s).unwrap().argv;
        assert_eq!(strs(&argv)[..2], ["/usr/bin/node", "-e"]);
    }

    #[test]
    fn the_environment_is_the_allowlist_plus_the_job_env_which_wins() {
        let mut s = spec(Language::Python);
        s.env = vec![
            EnvVar {
                name: "HOME".into(),
                value: "/tmp".into(),
            },
            EnvVar {
                name: "GREETING".into(),
                value: "hi=there".into(),
            },
        ];
        let cmd = build(&s).unwrap();
        let env = strs(&cmd.envp);
        assert!(env.contains(&"HOME=/tmp"));
        assert!(!env.contains(&"HOME=/work"));
        assert!(env.contains(&"GREETING=hi=there"));
        assert!(env.contains(&"PATH=/usr/local/bin:/usr/bin:/bin"));
    }

    #[test]
    fn bad_names_nul_bytes_and_relative_interpreters_are_refused() {
        for name in ["", "A=B", "A\0"] {
            let mut s = spec(Language::Python);
            s.env = vec![EnvVar {
                name: name.into(),
                value: "x".into(),
            }];
            assert!(build(&s).is_err(), "{name:?}");
        }
        let mut s = spec(Language::Python);
        s.args = vec!["a\0b".into()];
        assert!(build(&s).is_err());
        let mut s = spec(Language::Python);
        s.interpreter = "python3".into();
        assert!(build(&s).is_err());
    }
}
