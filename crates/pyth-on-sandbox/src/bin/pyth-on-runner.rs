//! `pyth-on-runner`: one sandboxed run per process, spoken to over stdin/stdout frames.
//!
//! Spawned by the server (through `pyth-on-launcher`) as root. See the `pyth_on_sandbox` crate
//! docs for the protocol and the isolation it applies.

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    // A runner (and so its sandbox) never outlives the server that started it.
    pyth_on_sandbox::die_with_parent().context("tying the runner to the server")?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    pyth_on_sandbox::serve(&mut stdin.lock(), &mut stdout.lock()).context("runner session failed")
}
