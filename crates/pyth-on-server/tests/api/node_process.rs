//! Server nodes as real `pyth-on serve` processes (the binary `cargo build --workspace` put
//! next to `pyth-on-runner`), so a node can be killed as a machine loses one: `SIGKILL`, its
//! runners dying with it (parent death signal), its database connections dropped by the
//! kernel, nothing of it given a chance to clean up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pyth_on_client::Client;

/// What the nodes of one deployment share, and the settings they all get.
pub struct Deployment {
    pub database_url: String,
    pub key_dir: PathBuf,
    /// `--pypi-index-url`.
    pub pypi_index_url: String,
    /// `--rate-limit-per-minute`.
    pub rate_limit_per_minute: u32,
}

/// A running `pyth-on serve`; killed when dropped.
pub struct NodeProcess {
    pub addr: SocketAddr,
    /// A client of this node alone (not through any balancer).
    pub client: Client,
    child: Child,
    log: PathBuf,
    dir: tempfile::TempDir,
    uid_start: u32,
}

/// This build's `pyth-on`, beside its `pyth-on-runner`.
pub fn server_binary() -> PathBuf {
    let runner = crate::support::runner_path();
    let server = runner.with_file_name("pyth-on");
    assert!(
        server.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        server.display()
    );
    server
}

/// A loopback address no one listens on right now.
fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

impl NodeProcess {
    /// Starts a node of `deployment` whose sandboxes run under the 64 uids from `uid_start`,
    /// advertised to the other nodes at its own address, and waits until it answers.
    pub async fn start(deployment: &Deployment, uid_start: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let addr = free_addr();
        let log = dir.path().join("server.log");
        let child = spawn(serve_command(deployment, dir.path(), addr, uid_start), &log);
        let client = Client::new(&format!("http://{addr}")).unwrap();
        let mut node = Self {
            addr,
            client,
            child,
            log,
            dir,
            uid_start,
        };
        node.wait_until_it_answers().await;
        node
    }

    /// Starts the node again in place (same address, so the same default `--node-name`, and
    /// the same data directory) after it was killed, and waits until it answers.
    pub async fn restart(&mut self, deployment: &Deployment) {
        let cmd = serve_command(deployment, self.dir.path(), self.addr, self.uid_start);
        self.child = spawn(cmd, &self.log);
        self.wait_until_it_answers().await;
    }

    async fn wait_until_it_answers(&mut self) {
        for _ in 0..600 {
            if self.client.info().await.is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the node exited ({status}) while starting:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the node did not answer within 15 s:\n{}", self.log());
    }

    /// Kills the node with `SIGKILL` and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The package environments this node built (`<data-dir>/envs/`), by key.
    pub fn environments(&self) -> Vec<String> {
        let envs = std::fs::read_dir(self.dir.path().join("envs")).unwrap();
        let mut keys: Vec<String> = envs
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        keys.sort();
        keys
    }

    /// What the node logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns `cmd` with its output appended to `log`.
fn spawn(mut cmd: Command, log: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    cmd.stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", server_binary().display()))
}

/// `pyth-on serve` for one node, without any `PYTH_ON_*` variable of the test's environment.
fn serve_command(d: &Deployment, dir: &Path, addr: SocketAddr, uid_start: u32) -> Command {
    let mut cmd = Command::new(server_binary());
    cmd.arg("serve")
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(dir)
        .arg("--database-url")
        .arg(&d.database_url)
        .arg("--key-dir")
        .arg(&d.key_dir)
        .arg("--runner")
        .arg(crate::support::runner_path())
        .args(["--node-url", &format!("http://{addr}")])
        .args(["--run-uid-start", &uid_start.to_string()])
        .args(["--run-uid-count", "64"])
        .args(["--pypi-index-url", &d.pypi_index_url])
        .args([
            "--rate-limit-per-minute",
            &d.rate_limit_per_minute.to_string(),
        ])
        .args(["--auth-rate-limit-per-minute", "1000"])
        // As every API test: runs start cold, no idle interpreters on a shared machine.
        .args(["--pool-size", "0"])
        .stdin(Stdio::null());
    without_server_variables(&mut cmd);
    cmd
}

/// Leaves out of `cmd`'s environment every `PYTH_ON_*` variable of the test's: a server it
/// starts reads only its flags.
pub fn without_server_variables(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PYTH_ON_") {
            cmd.env_remove(name);
        }
    }
}
