//! `--control-cpus`: a real `pyth-on serve` keeps its own threads (tokio's, SQLite's) to its
//! control CPUs, and the sandboxes it starts, and its password hashing, to every CPU it was
//! started on.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use pyth_on_client::Client;
use pyth_on_types::ExecuteRequest;

/// The CPUs of the threads of process `pid` whose name is `name` (`comm`, at most 15 bytes).
fn thread_cpus(pid: u32, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(|c| c.trim().to_string());
        found.extend(cpus);
    }
    found
}

/// `pyth-on serve` on SQLite in `dir` with `--control-cpus 1`, its output in `dir/server.log`.
fn serve(dir: &Path, addr: std::net::SocketAddr) -> std::process::Child {
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let mut cmd = Command::new(crate::node_process::server_binary());
    cmd.arg("serve")
        .args(["--listen", &addr.to_string()])
        .arg("--data-dir")
        .arg(dir)
        .arg("--runner")
        .arg(crate::support::runner_path())
        .args(["--run-uid-start", "1651100000", "--run-uid-count", "64"])
        .args(["--auth-rate-limit-per-minute", "1000", "--pool-size", "1"])
        .args(["--control-cpus", "1"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    crate::node_process::without_server_variables(&mut cmd);
    cmd.spawn().unwrap()
}

#[tokio::test]
async fn a_server_keeps_its_threads_to_its_control_cpu_and_runs_sandboxes_on_every_cpu() {
    let all = pyth_on_sandbox::cpus::of_process().unwrap();
    assert!(
        all.len() >= 2,
        "this test needs 2 CPUs, the process has {all:?}"
    );
    let expected_all: Vec<String> = all.iter().map(usize::to_string).collect();
    let dir = tempfile::tempdir().unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut server = serve(dir.path(), addr);
    let client = Client::new(&format!("http://{addr}")).unwrap();
    let mut answered = false;
    for _ in 0..600 {
        if client.info().await.is_ok() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let log = || std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(answered, "the server did not answer:\n{}", log());

    let auth = client
        .register("cpus@example.com", "correct horse battery staple")
        .await
        .unwrap();
    let user = client.with_api_key(auth.api_key.unwrap());
    let ran = user
        .execute(&ExecuteRequest {
            code: "import os\nprint(*sorted(os.sched_getaffinity(0)))".into(),
            language: Some("python".into()),
            ..Default::default()
        })
        .await
        .unwrap();

    let pid = server.id();
    let (first, every) = (all[0].to_string(), range(&all));
    // (Not the namespace pool's maker: it visits every CPU while it makes a namespace.)
    for name in ["tokio-rt-worker", "sqlx-sqlite-wor"] {
        let cpus = thread_cpus(pid, name);
        assert!(!cpus.is_empty(), "no thread {name}:\n{}", log());
        assert!(cpus.iter().all(|c| *c == first), "{name}: {cpus:?}");
    }
    for name in ["pyth-on", "pyth-on-passwor"] {
        let cpus = thread_cpus(pid, name);
        assert!(!cpus.is_empty(), "no thread {name}");
        assert!(cpus.iter().all(|c| *c == every), "{name}: {cpus:?}");
    }
    assert!(
        log().contains("the server's threads keep to their control CPUs"),
        "{}",
        log()
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        ran.output.split_whitespace().collect::<Vec<_>>(),
        expected_all,
        "{ran:?}"
    );
}

/// `cpus` as the kernel lists them in `Cpus_allowed_list` (`0-1`, or `0,2`).
fn range(cpus: &[usize]) -> String {
    let contiguous = cpus.windows(2).all(|w| w[1] == w[0] + 1);
    match (contiguous, cpus.first(), cpus.last()) {
        (true, Some(a), Some(b)) if a != b => format!("{a}-{b}"),
        _ => cpus
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}
