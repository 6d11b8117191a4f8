//! How a session's kernel is started: its bootstrap program per language and the descriptor
//! of its cell-result pipe. A leaf module: the child's set-up and the command builder use it
//! without depending on the rest of the session code.

use crate::protocol::Language;

/// Descriptor of the cell-result pipe (write end) in a session kernel.
pub const RESULT_FD: i32 = 7;

/// The Python kernel, run with `-c` (with the shared entry of [`crate::warm`]).
pub const PYTHON_KERNEL: &str = concat!(include_str!("../warm/run.py"), include_str!("kernel.py"));

/// The Node.js kernel, run with `--expose-internals -e` (the REPL's own top-level-`await`
/// rewrite, `internal/repl/await`, is an internal module).
pub const NODE_KERNEL: &str = include_str!("kernel.js");

/// The interpreter arguments that start the kernel of `language`.
pub fn kernel_argv(language: Language) -> &'static [&'static str] {
    match language {
        Language::Python => &["-c", PYTHON_KERNEL],
        Language::Javascript => &["--expose-internals", "-e", NODE_KERNEL],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_language_starts_its_own_kernel() {
        assert_eq!(kernel_argv(Language::Python), ["-c", PYTHON_KERNEL]);
        assert_eq!(
            kernel_argv(Language::Javascript)[..2],
            ["--expose-internals", "-e"]
        );
        assert!(PYTHON_KERNEL.contains("def _pyth_on_prepare") && NODE_KERNEL.contains("7"));
    }
}
