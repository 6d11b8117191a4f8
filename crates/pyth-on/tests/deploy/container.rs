//! The container image (`deploy/container`): `build-image.sh` builds it from this build's
//! binaries on a Debian base made by mmdebstrap (no registry), podman starts it with the
//! privileges docs/OPERATIONS.md "Container image" lists and no more, and inside it the server
//! answers `/api/health`, registers a user, runs Python and JavaScript, keeps a run away from
//! the container (its files, processes, network, the server's secrets) and stops within its
//! drain. Needs root, podman, runc and mmdebstrap (`.ci/run` installs them).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use pyth_on_client::Client;
use pyth_on_types::ExecuteRequest;

use super::common::server::text;
use super::common::{bin, free_addr, runner};
use super::{repo, tool};

/// The privileges the container gets: what docs/OPERATIONS.md "Container image" documents
/// (the test checks that it says each of them).
const PRIVILEGES: &[&str] = &[
    "--cgroupns=private",
    "--cap-drop=all",
    "--cap-add=SYS_ADMIN,SYS_CHROOT,SETUID,SETGID,SETPCAP,NET_ADMIN,KILL,SYS_NICE,CHOWN,FOWNER,DAC_OVERRIDE,DAC_READ_SEARCH",
    "--security-opt=no-new-privileges",
    "--read-only",
    "--stop-timeout=45",
];

/// Runs inside the container as a user's program and prints, as one JSON object, whether each
/// way out is closed (`true`: closed). What may kill the program (a seccomp refusal) runs in
/// a child process.
const ESCAPES: &str = r#"
import ctypes, json, os, socket, subprocess, sys

def child(code):
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return "ALLOWED" not in p.stdout

def refused(f):
    try:
        f()
        return False
    except OSError:
        return True

def write(path):
    with open(path, "w") as f:
        f.write("x")

def connect(addr):
    socket.create_connection(addr, timeout=2).close()

status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
others = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    if pid == str(os.getpid()):
        continue  # a forked run's own command line is the fork server's
    try:
        others.append(open(f"/proc/{pid}/cmdline", "rb").read())
    except OSError:
        pass
write("/tmp/ok")
write("ok")
libc = "import ctypes; libc = ctypes.CDLL(None, use_errno=True); "
print(json.dumps({
    "not root": os.getuid() >= 1800000000 and os.getgid() >= 1800000000,
    "no capabilities": status["CapEff"].strip("0\n") == "" and status["CapBnd"].strip("0\n") == "",
    "no new privileges": status["NoNewPrivs"].strip() == "1",
    "seccomp filter": status["Seccomp"].strip() == "2",
    "no shadow": refused(lambda: open("/etc/shadow").read()),
    "no data volume": refused(lambda: os.listdir("/var/lib/pyth-on")),
    "no server settings": not any(k.startswith("PYTH_ON_") for k in os.environ),
    "no server process": not any(b"pyth-on" in c for c in others),
    "read-only /": refused(lambda: write("/escape")),
    "read-only /usr": refused(lambda: write("/usr/escape")),
    "read-only /etc": refused(lambda: write("/etc/escape")),
    "no server port": refused(lambda: connect(("127.0.0.1", 8080))),
    "no network": refused(lambda: connect(("1.1.1.1", 443))),
    "no interface but lo": socket.if_nameindex() in ([], [(1, "lo")]),
    "no mount": child(libc + "print('ALLOWED' if libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) == 0 else 'refused')"),
    "no unshare": child(libc + "print('ALLOWED' if libc.unshare(0x10000000) == 0 else 'refused')"),
    "no setuid 0": child("import os; os.setuid(0); print('ALLOWED')"),
}))
"#;

/// Removes the container, its volume and the image on drop (also when the test fails).
struct Cleanup {
    name: String,
    tag: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", "--volumes", "--time", "0", &self.name]);
        let _ = podman(&["volume", "rm", "--force", &self.name]);
        let _ = podman(&["rmi", "--force", &self.tag]);
    }
}

/// `podman ARGS`, its output.
fn podman(args: &[&str]) -> Output {
    Command::new("podman").args(args).output().unwrap()
}

/// `podman ARGS`, its standard output; fails the test with what it said if it failed.
fn podman_ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_owned()
}

/// Fails unless the test runs as root with podman, runc and mmdebstrap installed.
fn require_root_and_tools() {
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        text(&uid.stdout).trim(),
        "0",
        "the container test runs as root (podman's root store, the sandbox's privileges)"
    );
    for name in ["podman", "runc", "mmdebstrap"] {
        tool(name, "apt-get install podman buildah runc mmdebstrap");
    }
}

/// The hard limit of `name` in `/proc/self/limits` (`Max open files`), `unlimited` as u64::MAX.
fn hard_limit(name: &str) -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits.lines().find(|l| l.starts_with(name)).unwrap();
    let hard = line[name.len()..].split_whitespace().nth(1).unwrap();
    hard.parse().unwrap_or(u64::MAX)
}

/// What this machine needs besides the privileges (docs/OPERATIONS.md says why): runc, as
/// crun refuses a cgroup v1 host with a controller on its v2 mount, and limits the runtime may
/// set where root lacks CAP_SYS_RESOURCE (podman asks for 1048576 of each).
fn host_options() -> Vec<String> {
    let nofile = hard_limit("Max open files").min(65536);
    let nproc = hard_limit("Max processes").min(32768);
    vec![
        "--runtime=runc".into(),
        format!("--ulimit=nofile={nofile}:{nofile}"),
        format!("--ulimit=nproc={nproc}:{nproc}"),
    ]
}

/// Builds the image from this build's binaries with `build-image.sh`; its size in bytes.
fn build(tag: &str) -> u64 {
    let dir = Path::new(bin()).parent().unwrap();
    assert!(runner().is_file(), "{} is not built", runner().display());
    let out = Command::new(repo().join("deploy/container/build-image.sh"))
        .arg(dir)
        .arg(tag)
        .output()
        .unwrap();
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "build-image.sh failed: {said}");
    let size = podman_ok(&["image", "inspect", "--format", "{{.Size}}", tag]);
    eprintln!("{said}");
    size.parse().unwrap()
}

/// Starts the image as `name`, published on `addr`.
fn start(name: &str, tag: &str, addr: SocketAddr) {
    let publish = format!("--publish={addr}:8080");
    let volume = format!("--volume={name}:/var/lib/pyth-on");
    let mut args = vec!["run", "--detach", "--name", name, &publish, &volume];
    args.extend(PRIVILEGES);
    let host = host_options();
    args.extend(host.iter().map(String::as_str));
    // Open registration: the test registers from the host, a non-loopback peer for it.
    args.extend([
        "--env=PYTH_ON_REGISTRATION=open",
        "--env=PYTH_ON_POOL_SIZE=1",
    ]);
    args.push(tag);
    podman_ok(&args);
}

/// Waits until `/api/health` answers 200 (a sandbox run included); panics after 60 s.
async fn healthy(addr: SocketAddr, name: &str) {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = reqwest::get(format!("http://{addr}/api/health")).await {
            let ok = r.status() == 200;
            last = r.text().await.unwrap_or_default();
            if ok {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let logs = podman(&["logs", name]);
    panic!(
        "no healthy server in 60 s: {last}\n{}{}",
        text(&logs.stdout),
        text(&logs.stderr)
    );
}

/// Python runs fork from the fork server, whose native library the image holds: a forked
/// run's parent is outside its PID namespace (0), an interpreter started for the run has the
/// sandbox's init (1). The fork server starts in the background: the first runs may precede it.
async fn forks_from_the_fork_server(client: &Client) {
    for _ in 0..40 {
        let r = run(client, "python", "import os; print(os.getppid())").await;
        if r.output == "0\n" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("no Python run was forked from the fork server in 10 s");
}

/// Runs `code` in `language` and returns its answer.
async fn run(client: &Client, language: &str, code: &str) -> pyth_on_types::ExecuteResponse {
    client
        .execute(&ExecuteRequest {
            code: code.into(),
            language: Some(language.into()),
            ..Default::default()
        })
        .await
        .unwrap()
}

/// `docs/OPERATIONS.md` from "### Container image" to the next heading of its level or above.
fn documented() -> String {
    let ops = std::fs::read_to_string(repo().join("docs/OPERATIONS.md")).unwrap();
    let start = ops.find("\n### Container image\n").unwrap();
    let rest = &ops[start + 1..];
    let end = rest[4..]
        .find("\n## ")
        .into_iter()
        .chain(rest[4..].find("\n### "))
        .min()
        .map_or(rest.len(), |e| e + 4);
    rest[..end].to_owned()
}

#[test]
fn the_documented_privileges_are_the_ones_the_image_test_uses() {
    let docs = documented();
    for flag in PRIVILEGES {
        assert!(
            docs.contains(flag),
            "docs/OPERATIONS.md does not say {flag}"
        );
    }
    assert!(!docs.contains("podman run --privileged"));
}

#[tokio::test]
async fn the_image_runs_code_with_the_documented_privileges_and_keeps_runs_in() {
    require_root_and_tools();
    let name = format!("pyth-on-test-{}", std::process::id());
    let tag = format!("localhost/{name}:latest");
    let _cleanup = Cleanup {
        name: name.clone(),
        tag: tag.clone(),
    };
    let built = Instant::now();
    let size = build(&tag);
    eprintln!("image {tag}: {size} bytes, built in {:?}", built.elapsed());
    let version = text(
        &Command::new(bin())
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    );
    let revision = podman_ok(&[
        "image",
        "inspect",
        "--format",
        "{{index .Labels \"org.opencontainers.image.revision\"}}",
        &tag,
    ]);
    assert!(
        version.contains(&format!("({revision})")),
        "{revision}: {version}"
    );

    let addr = free_addr();
    start(&name, &tag, addr);
    healthy(addr, &name).await;
    podman_ok(&["healthcheck", "run", &name]);

    let client = Client::new(&format!("http://{addr}")).unwrap();
    let key = client
        .register("container@example.com", "correct horse battery staple")
        .await
        .unwrap()
        .api_key
        .unwrap();
    let client = client.with_api_key(key);
    let python = run(
        &client,
        "python",
        "import sys; print(6 * 7, sys.version_info[0])",
    )
    .await;
    assert_eq!(python.output, "42 3\n", "{python:?}");
    forks_from_the_fork_server(&client).await;
    let js = run(&client, "javascript", "console.log(6 * 7, typeof process)").await;
    assert_eq!(js.output, "42 object\n", "{js:?}");

    keeps_a_run_in(&client).await;
    stops_within_the_drain(&client, &name).await;
}

/// The escape checks ([`ESCAPES`]) run as a user's program: every way out is closed.
async fn keeps_a_run_in(client: &Client) {
    let escapes = run(client, "python", ESCAPES).await;
    assert_eq!(escapes.exit_code, 0, "{escapes:?}");
    let checks: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&escapes.output).unwrap();
    assert_eq!(checks.len(), 17, "{checks:?}");
    let open: Vec<&String> = checks
        .iter()
        .filter(|(_, v)| v.as_bool() != Some(true))
        .map(|(k, _)| k)
        .collect();
    assert!(
        open.is_empty(),
        "ways out not closed: {open:?} in {checks:?}"
    );
}

/// A run in flight when the container is stopped finishes; the server exits 0, well before
/// the stop timeout.
async fn stops_within_the_drain(client: &Client, name: &str) {
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move {
            let code = "import time; time.sleep(3); print('drained')";
            run(&client, "python", code).await
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopping = Instant::now();
    let name_owned = name.to_owned();
    tokio::task::spawn_blocking(move || podman_ok(&["stop", &name_owned]))
        .await
        .unwrap();
    let took = stopping.elapsed();

    let answer = in_flight.await.unwrap();
    assert_eq!(answer.output, "drained\n", "{answer:?}");
    let exit = podman_ok(&["inspect", "--format", "{{.State.ExitCode}}", name]);
    assert_eq!(exit, "0", "the server did not exit cleanly");
    assert!(took < Duration::from_secs(30), "the stop took {took:?}");
}
