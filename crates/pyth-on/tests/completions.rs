//! `pyth-on completions SHELL`: each script names every command, and bash, given the script,
//! completes a partial command as a user would see it.
#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod common;

use std::process::Command;

use common::bin;

fn completions(shell: &str) -> String {
    let out = Command::new(bin())
        .args(["completions", shell])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_shell_gets_a_script_naming_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let script = completions(shell);
        for command in ["serve", "run", "session", "users", "zk", "completions"] {
            assert!(script.contains(command), "{shell}: no {command}");
        }
    }
}

#[test]
fn bash_completes_a_partial_command_from_the_script() {
    let script = completions("bash");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pyth-on.bash");
    std::fs::write(&path, script).unwrap();
    let probe = format!(
        "source {}; COMP_WORDS=(pyth-on use); COMP_CWORD=1; COMP_LINE='pyth-on use'; \
         COMP_POINT=11; _pyth__on pyth-on use pyth-on; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let words = String::from_utf8(out.stdout).unwrap();
    assert_eq!(words.trim(), "users", "{words}");
}

#[test]
fn an_unknown_shell_is_refused_with_the_choices() {
    let out = Command::new(bin())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bash") && err.contains("zsh"), "{err}");
}
