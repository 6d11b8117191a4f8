//! Pre-started interpreters (warm pool, [`JobSpec::prestart`]): the bootstrap programs and the
//! descriptor layout they are started with.
//!
//! Cold and plain warm runs `execve` the interpreter on `/code/main.*` once the job arrived.
//! With `prestart`, the payload instead `execve`s the interpreter during preparation, after
//! every control is in place (namespaces, root file system, cgroup joined, rlimits, uid/gid,
//! capabilities dropped, `no_new_privs`, seccomp), running a small bootstrap ([`PYTHON_BOOT`],
//! [`NODE_BOOT`]) that imports only what it needs itself (each module imported ahead of time
//! makes every program's exit slower: see the Python bootstrap), writes `ready` to the status
//! pipe and blocks on the release pipe. So far it holds nothing of any user. Its `RLIMIT_CPU` comes
//! from the profile's timeout (a job may ask for less, never more: the payload has no
//! `CAP_SYS_RESOURCE` to raise it, and neither has root on every host we run on, so the
//! supervisor cannot `prlimit` it either). When the job arrives the supervisor writes the
//! job's memory limit to the cgroup and sends the release frame; the Python bootstrap lowers
//! `RLIMIT_CPU` to the job's (Node has no API for it: its backstop stays the profile's, the
//! wall-clock kill is the job's either way); the bootstrap writes the program to
//! `/code/main.*` through the descriptor init opened, sets the job's environment and argv,
//! closes every descriptor of its own (the error pipe last: its EOF marks "user code starts"),
//! and runs the program as `__main__` (Python: a fresh `__main__` module, tracebacks without
//! the bootstrap frame; Node: `Module.runMain`). ZK jobs are never pre-started: their
//! decryption must finish and wipe the key before the interpreter exists.
//!
//! Differences a program can observe, documented in the crate README: Python's
//! `sys.orig_argv` and Node's internal stack frames name the bootstrap, and the few modules the
//! bootstrap imported (Python: `resource`) are already loaded.
//!
//! [`JobSpec::prestart`]: crate::protocol::JobSpec::prestart

use crate::error::SandboxError;
use crate::protocol::{Language, MAX_FRAME_BYTES};
use crate::release::Release;

/// Descriptor of the release pipe (read end) in a pre-started interpreter.
pub const RELEASE_FD: i32 = 3;
/// Descriptor of `/code/main.*` (write-only) in a pre-started interpreter.
pub const CODE_FD: i32 = 4;
/// Descriptor of the error pipe (write end) in a pre-started interpreter.
pub const ERROR_FD: i32 = 5;
/// Descriptor of the status pipe (write end) in a pre-started interpreter.
pub const STATUS_FD: i32 = 6;

/// The Python bootstrap, run with `-c`: the shared entry ([`PYTHON_COLD`] uses it too) and
/// the part that waits for the job.
pub const PYTHON_BOOT: &str = concat!(
    include_str!("warm/run.py"),
    include_str!("warm/boot.py"),
    include_str!("warm/start.py")
);

/// The cold Python entry, run with `-c`: reads `/code/main.py` and runs it through the same
/// entry as a pre-started run, so both behave alike (`-S` with `exit`/`quit`/`help` restored,
/// a fresh `__main__`, the fast exit).
pub const PYTHON_COLD: &str = concat!(include_str!("warm/run.py"), include_str!("warm/cold.py"));

/// The Node.js bootstrap, run with `-e`.
pub const NODE_BOOT: &str = include_str!("warm/boot.js");

/// The bootstrap of `language` and the interpreter flag that runs a program given inline.
pub fn bootstrap(language: Language) -> (&'static str, &'static str) {
    match language {
        Language::Python => ("-c", PYTHON_BOOT),
        Language::Javascript => ("-e", NODE_BOOT),
    }
}

/// Encodes the release for a bootstrap: a big-endian `u32` length, then fields, each a `u32`
/// length and its bytes: timeout in ms (decimal), the code, the argument count (decimal), each
/// argument, the variable count (decimal), each name and value. Not JSON: parsing JSON in
/// Python imports `json` and `re`, which cost every warm runner ~10 ms at start and again at
/// exit; this format needs only built-ins. A ZK release is refused (never pre-started), and
/// so is one with input files (the payload writes them before exec; a pre-started interpreter
/// was exec'd before the job existed).
pub fn encode_release(release: &Release) -> Result<Vec<u8>, SandboxError> {
    if release.zk.is_some() {
        return Err(SandboxError::InvalidJob(
            "a ZK job cannot run in a pre-started interpreter".into(),
        ));
    }
    if !release.files.is_empty() {
        return Err(SandboxError::InvalidJob(
            "a job with input files cannot run in a pre-started interpreter".into(),
        ));
    }
    let timeout = release.timeout_ms.to_string();
    let argc = release.args.len().to_string();
    let envc = release.env.len().to_string();
    let mut fields: Vec<&[u8]> = vec![timeout.as_bytes(), release.code.as_bytes(), argc.as_bytes()];
    fields.extend(release.args.iter().map(|a| a.as_bytes()));
    fields.push(envc.as_bytes());
    for var in &release.env {
        fields.push(var.name.as_bytes());
        fields.push(var.value.as_bytes());
    }
    let body_len: usize = fields.iter().map(|f| 4 + f.len()).sum();
    let too_large = || SandboxError::InvalidJob("the release is larger than a frame may be".into());
    let len = u32::try_from(body_len)
        .ok()
        .filter(|l| *l <= MAX_FRAME_BYTES)
        .ok_or_else(too_large)?;
    let mut out = Vec::with_capacity(4 + body_len);
    out.extend_from_slice(&len.to_be_bytes());
    for f in fields {
        // Each field is shorter than the whole frame, checked above.
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(f);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::EnvVar;

    #[test]
    fn a_release_is_encoded_as_length_prefixed_fields() {
        let release = Release {
            code: "print(1)".into(),
            zk: None,
            args: vec!["a".into()],
            env: vec![EnvVar {
                name: "K".into(),
                value: "vé".into(),
            }],
            timeout_ms: 1500,
            files: Vec::new(),
        };
        let bytes = encode_release(&release).unwrap();
        let mut expected = Vec::new();
        for f in ["1500", "print(1)", "1", "a", "1", "K", "vé"] {
            expected.extend_from_slice(&(f.len() as u32).to_be_bytes());
            expected.extend_from_slice(f.as_bytes());
        }
        assert_eq!(bytes[..4], (expected.len() as u32).to_be_bytes());
        assert_eq!(bytes[4..], expected[..]);
    }

    #[test]
    fn a_release_with_input_files_is_refused() {
        let release = Release {
            files: vec![crate::files::InputFile {
                path: "a.py".into(),
                content: b"x".to_vec(),
            }],
            ..Release::default()
        };
        assert!(matches!(
            encode_release(&release),
            Err(SandboxError::InvalidJob(_))
        ));
    }
}
