//! The fork server ([`pyth_on_sandbox::fork_server`]): Python runs forked from one interpreter
//! into prepared single-use sandboxes. The whole kernel-level suites also run in this mode
//! (`PYTH_ON_TEST_PREPARED=fork`, see `scripts/test`); these tests check what is particular
//! to it: nothing of one run reaches the next, and what the forked runs do share.
mod common;

use common::{privileged, run_in, Mode};

#[test]
fn a_forked_run_prints_and_exits_with_its_code() {
    privileged();
    let r = run_in(&common::py("import sys\nprint('hello')\nsys.exit(3)"), Mode::Forked);
    assert_eq!(r.stdout, "hello\n", "stderr: {}", r.stderr);
    assert_eq!(r.exit_code, 3);
}
