//! What the binary's test files share: the binaries this build made, a free loopback port, a
//! `serve` command that reads nothing of the developer's environment, and waiting until a
//! server answers.
#![allow(dead_code, reason = "each test file uses part of it")]

pub mod server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pyth_on_client::Client;

/// This build's `pyth-on`.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pyth-on")
}

/// This build's `pyth-on-runner`, beside it.
pub fn runner() -> PathBuf {
    Path::new(bin()).with_file_name("pyth-on-runner")
}

/// A loopback address no one listens on right now.
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// `pyth-on serve` on `data_dir` at `addr` with this build's runner, without any `PYTH_ON_*`
/// variable of the environment the tests run in.
pub fn serve(data_dir: &Path, addr: SocketAddr) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--runner")
        .arg(runner());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PYTH_ON_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// A client of the server at `addr`, once it answers (panics after 10 s).
pub async fn answering(addr: SocketAddr) -> Client {
    let client = Client::new(&format!("http://{addr}")).unwrap();
    for _ in 0..400 {
        if client.info().await.is_ok() {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server at {addr} did not answer within 10 s");
}
