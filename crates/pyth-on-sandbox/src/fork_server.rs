//! The fork server: one interpreter started once, forked into each prepared sandbox.
//!
//! Starting a fresh Python costs this machine 13-17 ms of CPU per run, most of what a run
//! costs; forking an interpreter that already started costs well under a millisecond. A
//! runner that receives [`ServerFrame::ForkServer`](crate::protocol::ServerFrame::ForkServer)
//! becomes one ([`become_fork_server`]): it has the interpreter compile [`ZYGOTE`] in a
//! process of its own and execs `python3 -S -s -B -c` [`LOADER`] with the compiled code and
//! the path of [`NATIVE_LIBRARY`], which imports a set of standard modules, listens on an
//! abstract Unix socket (reachable only from the host's network namespace, and only root's
//! requests are taken: `SO_PEERCRED`), loads its native serving loop ([`native`]) and never
//! runs user code.
//!
//! A sandbox whose profile names a fork server ([`JobSpec::fork_server`]) is prepared as
//! usual (cgroup, init cloned into new namespaces, root file system: [`crate::child`]), but
//! init forks no payload. Once init says `init 1` on the status pipe, the supervisor sends the
//! fork server a request ([`request`]): init's pidfd, the payload's ends of the pipes
//! (stdin, stdout, stderr, error, status, release, notice), the write end of the exit pipe, the
//! run's `cgroup.procs` files, and the profile's uid, gid and limits. The server `setns`es
//! its children's PID namespace to init's, forks the payload and returns to its own; the
//! payload enters init's other namespaces (mount, UTS, IPC, network, cgroup), joins the run's
//! cgroup, opens `/code/main.py`, puts its descriptors in place and closes every other, takes
//! a session of its own, sets the rlimits and signals (the capability bounding and ambient
//! sets, keepcaps and securebits it inherited empty: the fork server dropped them once before
//! its first fork), changes to the run's uid and gid, empties every capability set
//! (`capset`), sets `no_new_privs` and installs the same seccomp program as a Rust payload
//! (`payload.rs` follows `child.rs` step by step, in native code before any Python code runs
//! in the payload), says `ready` and waits for its job like a
//! pre-started interpreter ([`crate::warm`]). The fork server stays the payload's parent (a
//! process that joins a PID namespace by `setns` is never re-parented to that namespace's
//! init), waits for it and writes its exit status and CPU time to the exit pipe; init reads
//! them there (`child/forked.rs`) and ends the run as always: kill every other process,
//! collect the output files, report. The payload also holds the notice pipe (fd 7): its
//! bootstrap says there that the program is over before the slow exit of a forked process,
//! which ends the run at once when nothing else is left to wait for (`child/forked.rs`).
//!
//! What the forked runs share and what that means is in docs/SECURITY.md ("The fork server").

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::command::{base_environment, PYTHON_FLAGS};
use crate::error::{SandboxError, SysError};
use crate::protocol::{ForkServerConfig, ForkServerRef, JobSpec, Language};
use crate::sys;

pub mod native;
mod payload;
mod request;

/// The fork server's program, run with `-c`: the shared entry, the pre-started bootstrap, and
/// the server itself.
pub const ZYGOTE: &str = concat!(
    include_str!("warm/run.py"),
    include_str!("warm/boot.py"),
    include_str!("fork_server/zygote.py")
);

/// How long a request may wait for the fork server's answer.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// What the fork server runs with `-c`: [`ZYGOTE`] compiled already ([`compile_zygote`]),
/// handed over in base64 as its first argument. Parsing the program's 25 kB of source in the fork
/// server itself left about 1.5 MB of the parser's freed memory resident there (measured: 6.7
/// → 5.1 MB at `ready`), which every fork copies into its page tables and every payload's
/// exit frees again.
const LOADER: &str =
    "import binascii, marshal, sys\nexec(marshal.loads(binascii.a2b_base64(sys.argv.pop(1))))\n";

/// Compiles the program on stdin and writes its code object, marshalled, to stdout.
const COMPILER: &str = "import marshal, sys\nsys.stdout.buffer.write(marshal.dumps(compile(\
                        sys.stdin.buffer.read(), '<pyth-on fork server>', 'exec')))\n";

/// The longest argument the kernel takes (`MAX_ARG_STRLEN`, 32 pages), less its NUL.
const MAX_ARG_BYTES: usize = 32 * 4096 - 1;

/// Replaces this process (a runner) by a fork server for `config`; returns only on failure.
/// Its stdin stays the server's pipe (EOF ends the fork server), its stdout carries one
/// `ready PID` line once it listens.
pub fn become_fork_server(config: &ForkServerConfig) -> SandboxError {
    match exec_fork_server(config) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn exec_fork_server(config: &ForkServerConfig) -> Result<std::convert::Infallible, SandboxError> {
    if config.language != Language::Python {
        return Err(SandboxError::InvalidJob(
            "a fork server exists for Python only".into(),
        ));
    }
    let c = |s: &str| {
        CString::new(s)
            .map_err(|_| SandboxError::InvalidJob("a NUL byte in the fork server's command".into()))
    };
    let interpreter = config
        .interpreter
        .to_str()
        .filter(|p| p.starts_with('/'))
        .ok_or_else(|| {
            SandboxError::InvalidJob("the interpreter must be an absolute path".into())
        })?;
    let code = BASE64.encode(compile_zygote(interpreter)?);
    if code.len() > MAX_ARG_BYTES {
        return Err(SandboxError::InvalidJob(format!(
            "the fork server's compiled program takes {} bytes in base64, more than an argument may",
            code.len()
        )));
    }
    let native = native_library()?;
    let mut argv = vec![c(interpreter)?];
    for arg in PYTHON_FLAGS.iter().chain(&[
        "-c",
        LOADER,
        code.as_str(),
        config.socket.as_str(),
        native.as_str(),
    ]) {
        argv.push(c(arg)?);
    }
    // The environment of a Python run before its job's variables: a forked run starts with it.
    let envp = base_environment(Language::Python)
        .iter()
        .map(|(k, v)| c(&format!("{k}={v}")))
        .collect::<Result<Vec<_>, _>>()?;
    // Not the server's working directory: nothing of it on the fork server's import path.
    std::env::set_current_dir("/").map_err(|e| SysError::from_io("chdir", "/".into(), e))?;
    // The runner died with its server's spawning thread; a fork server lives as long as the
    // server's end of its stdin instead (a thread of the server may come and go meanwhile).
    sys::set_parent_death_signal(0)?;
    Err(sys::execve(&argv[0], &argv, &envp).into())
}

/// [`ZYGOTE`] compiled by `interpreter` (marshal's format is the interpreter's own), in a
/// process of its own: its parser's memory is not the fork server's.
fn compile_zygote(interpreter: &str) -> Result<Vec<u8>, SandboxError> {
    let fail = |what: String| SandboxError::ChildSetup(format!("fork server: compiling: {what}"));
    let mut compiler = std::process::Command::new(interpreter)
        .args(PYTHON_FLAGS)
        .args(["-c", COMPILER])
        .env_clear()
        .envs(base_environment(Language::Python))
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("{interpreter}: {e}")))?;
    // Written whole before the output is read: the compiler reads all of its input first.
    let written = compiler
        .stdin
        .take()
        .map(|mut i| i.write_all(ZYGOTE.as_bytes()));
    let out = compiler
        .wait_with_output()
        .map_err(|e| fail(e.to_string()))?;
    match written {
        Some(Ok(())) if out.status.success() && !out.stdout.is_empty() => Ok(out.stdout),
        _ => Err(fail(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

/// The file name of the fork server's native part (the `pyth-on-zygote` crate), installed
/// beside `pyth-on-runner`.
pub const NATIVE_LIBRARY: &str = "libpyth_on_zygote.so";

/// This build of the sandbox crate, NUL-terminated: the version and a fingerprint of the
/// crate's sources (`build.rs`). [`NATIVE_LIBRARY`] carries it (the zygote crate returns it
/// from `pyth_on_zygote_build`), and a runner starts a fork server only with a library that
/// carries its own: a library left from another build could lack a step of a payload's
/// isolation that this runner's Rust payload takes.
pub const BUILD_MARKER: &str = concat!(
    "pyth-on-sandbox-build:",
    env!("CARGO_PKG_VERSION"),
    "+",
    env!("PYTH_ON_SANDBOX_SOURCES"),
    "\0"
);

/// [`NATIVE_LIBRARY`] beside this runner's executable (an absolute path: the fork server
/// loads it by that path, never by a library search).
fn native_library() -> Result<String, SandboxError> {
    let fail = |what: String| SandboxError::ChildSetup(format!("fork server: {what}"));
    let exe = std::env::current_exe().map_err(|e| fail(format!("this runner's path: {e}")))?;
    let path = exe.with_file_name(NATIVE_LIBRARY);
    if !path.is_file() {
        return Err(fail(format!(
            "{} is missing (it is built with the workspace, `cargo build --workspace`, and \
             installed beside pyth-on-runner)",
            path.display()
        )));
    }
    let library = std::fs::read(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    let marker = BUILD_MARKER.as_bytes();
    if memchr::memmem::find(&library, marker).is_none() {
        return Err(fail(format!(
            "{} is from another build than this runner ({}): build the workspace \
             (`cargo build --workspace`) and install both from it",
            path.display(),
            BUILD_MARKER.trim_end_matches('\0')
        )));
    }
    path.into_os_string()
        .into_string()
        .map_err(|p| fail(format!("{p:?} is not UTF-8")))
}

/// The payload's ends of a sandbox's pipes and its cgroup files, kept by the supervisor until
/// the fork server takes copies of them ([`request`]), then closed.
#[derive(Debug)]
pub(crate) struct Handoff {
    /// In the fork server's order: stdin, stdout, stderr, error, status, release, exit,
    /// notice.
    pub(crate) pipes: [OwnedFd; 8],
    /// The run's `cgroup.procs` files, opened for writing.
    pub(crate) cgroup_procs: Vec<std::fs::File>,
}

/// Asks `server` for the payload of the sandbox whose init is `init_pidfd`; returns once the
/// server forked it (its set-up then goes on there: `ready` or an error arrives on the pipes).
pub(crate) fn request(
    server: &ForkServerRef,
    init_pidfd: BorrowedFd<'_>,
    handoff: Handoff,
    spec: &JobSpec,
) -> Result<(), SandboxError> {
    let fail = |what: &str| SandboxError::ChildSetup(format!("fork server: {what}"));
    // Bounded: a fork server that stopped accepting (its backlog full) fails this sandbox's
    // set-up, which the launcher then runs with an interpreter of its own.
    let conn = sys::connect_abstract(server.socket.as_bytes(), REQUEST_DEADLINE)
        .map(UnixStream::from)
        .map_err(|e| fail(&format!("connect: {e}")))?;
    let (pid, uid) = sys::peer_credentials(conn.as_fd())?;
    if (pid, uid) != (server.pid, 0) {
        return Err(fail(&format!(
            "the socket belongs to pid {pid} uid {uid}, not the fork server (pid {})",
            server.pid
        )));
    }
    let header = request_line(spec, handoff.cgroup_procs.len());
    let mut fds: Vec<BorrowedFd<'_>> = vec![init_pidfd];
    fds.extend(handoff.pipes.iter().map(AsFd::as_fd));
    fds.extend(handoff.cgroup_procs.iter().map(AsFd::as_fd));
    sys::send_with_fds(conn.as_fd(), header.as_bytes(), &fds)?;
    drop(fds);
    drop(handoff); // the server holds its copies now
    conn.set_read_timeout(Some(REQUEST_DEADLINE))
        .map_err(|e| fail(&e.to_string()))?;
    let mut answer = String::new();
    let _ = conn.take(4096).read_to_string(&mut answer);
    match answer.trim_end() {
        "ok" => Ok(()),
        "" => Err(fail("no answer")),
        other => Err(fail(other)),
    }
}

/// The request's fields, as the fork server reads them (`request::Request`): uid, gid, nofile,
/// fsize, CPU seconds, the number of cgroup files, then the program's path (none of them
/// holds a space).
fn request_line(spec: &JobSpec, cgroups: usize) -> String {
    let l = &spec.limits;
    format!(
        "{} {} {} {} {} {} {}",
        spec.sandbox.uid,
        spec.sandbox.gid,
        l.nofile,
        l.fsize_bytes,
        crate::rlimits::cpu_limit_secs(l.timeout_ms),
        cgroups,
        spec.language.main_file()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compiler_that_fails_is_a_set_up_error_that_says_so() {
        let err = compile_zygote("/bin/false").unwrap_err().to_string();
        assert!(err.contains("fork server: compiling"), "{err}");
    }

    #[test]
    fn the_compiled_program_fits_in_the_one_argument_that_carries_it() {
        let code = compile_zygote("/usr/bin/python3").unwrap();
        // marshal's type code of a code object, with or without its reference flag (0x80).
        assert_eq!(
            code.first().map(|b| b & 0x7f),
            Some(b'c'),
            "not a code object"
        );
        assert!(BASE64.encode(&code).len() <= MAX_ARG_BYTES);
    }
}
