//! `pyth-on-runner`: one sandboxed run per process, spoken to over stdin/stdout frames.
//!
//! Spawned by the server (through `pyth-on-launcher`) as root. See the `pyth_on_sandbox` crate
//! docs for the protocol and the isolation it applies. With the single argument `spawner` it
//! becomes the launcher's runner spawner instead (`pyth_on_sandbox::spawner`): each runner it
//! forks comes back out of `serve` here and goes on as below.

use std::os::fd::AsFd;

use anyhow::Context;
use pyth_on_sandbox::spawner::{self, Role};

fn main() -> anyhow::Result<()> {
    // A runner (and so its sandbox) never outlives the server that started it.
    pyth_on_sandbox::die_with_parent().context("tying the runner to the server")?;
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == spawner::SPAWNER_ARG)
    {
        let control = std::io::stdin().as_fd().try_clone_to_owned();
        match spawner::serve(control.context("duplicating stdin")?).context("spawner failed")? {
            Role::Finished => return Ok(()),
            Role::Runner { server } => {
                pyth_on_sandbox::die_with(server).context("tying the runner to the server")?;
            }
        }
    }
    // Unbuffered: a session polls this descriptor for interrupts while a cell runs.
    let stdin = std::io::stdin().as_fd().try_clone_to_owned();
    let mut stdin = std::fs::File::from(stdin.context("duplicating stdin")?);
    let stdout = std::io::stdout();
    pyth_on_sandbox::serve(&mut stdin, &mut stdout.lock()).context("runner session failed")
}
