//! `pyth-on-runner`: one sandboxed run per process, spoken to over stdin/stdout frames.
//!
//! Spawned by the server (through `pyth-on-launcher`) as root. See the `pyth_on_sandbox` crate
//! docs for the protocol and the isolation it applies.

use std::os::fd::AsFd;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    // A runner (and so its sandbox) never outlives the server that started it.
    pyth_on_sandbox::die_with_parent().context("tying the runner to the server")?;
    // Unbuffered: a session polls this descriptor for interrupts while a cell runs.
    let stdin = std::io::stdin().as_fd().try_clone_to_owned();
    let mut stdin = std::fs::File::from(stdin.context("duplicating stdin")?);
    let stdout = std::io::stdout();
    pyth_on_sandbox::serve(&mut stdin, &mut stdout.lock()).context("runner session failed")
}
