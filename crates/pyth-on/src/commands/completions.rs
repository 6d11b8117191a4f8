//! `pyth-on completions SHELL`: the shell completion script for every command and flag,
//! generated from the same definitions the parser uses (so it cannot go stale).

use std::io::Write;
use std::process::ExitCode;

use clap_complete::Shell;

/// Print the completion script for a shell.
#[derive(Debug, clap::Args)]
pub struct Cmd {
    /// `bash`, `zsh`, `fish`, `elvish` or `powershell`.
    shell: Shell,
}

impl Cmd {
    /// Writes the script for `command` (the whole CLI) to standard output. It is built in
    /// memory first: the generator panics on a write error (a closed pipe), a write here does not.
    pub fn run(self, mut command: clap::Command) -> anyhow::Result<ExitCode> {
        let name = command.get_name().to_string();
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut command, name, &mut script);
        match std::io::stdout().lock().write_all(&script) {
            Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
            _ => Ok(ExitCode::SUCCESS),
        }
    }
}
