//! Interrupting a session's cell on the server's request (`Interrupt` frames), as root,
//! against the real runner: the cell ends with an error, the session and its variables
//! survive; a cell that ignores the interrupt ends the session after the grace; an interrupt
//! between cells reaches no later cell.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::{Duration, Instant};

use common::kernel::open;

#[test]
fn an_interrupted_python_loop_raises_keyboard_interrupt_and_the_session_keeps_its_variables() {
    let mut k = open(common::py(""));
    k.cell("kept = 'yes'");
    let t = Instant::now();
    let c = k.cell_interrupted(
        "print('started', flush=True)\nwhile True:\n    pass",
        Duration::from_millis(400),
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(c.result.interrupted && !c.result.timed_out, "{c:?}");
    assert!(!c.result.session_ended, "{c:?}");
    assert_eq!(c.stdout, "started\n");
    assert_eq!(c.result.error.unwrap().name, "KeyboardInterrupt");
    assert_eq!(k.cell("kept").text(), ["'yes'"]);
    k.close();
}

#[test]
fn an_interrupted_javascript_loop_ends_with_an_error_and_the_session_keeps_its_bindings() {
    let mut k = open(common::js(""));
    k.cell("let kept = 41");
    let c = k.cell_interrupted("while (true) {}", Duration::from_millis(400));
    assert!(c.result.interrupted && !c.result.session_ended, "{c:?}");
    assert!(c.result.error.is_some(), "{c:?}");
    let c = k.cell_interrupted("await new Promise(() => {})", Duration::from_millis(300));
    assert!(c.result.interrupted && !c.result.session_ended, "{c:?}");
    assert_eq!(k.cell("kept + 1").text(), ["42"]);
    k.close();
}

#[test]
fn a_cell_that_ignores_its_interrupt_ends_the_session_after_the_grace() {
    let mut k = open(common::py(""));
    let code = "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        pass";
    let t = Instant::now();
    let c = k.cell_interrupted(code, Duration::from_millis(300));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert!(c.result.interrupted && c.result.session_ended, "{c:?}");
    assert!(!c.result.timed_out, "{c:?}");
    assert_eq!(c.ended.unwrap().signal, Some(9));
    k.close();
}

#[test]
fn an_interrupt_between_cells_is_dropped_and_reaches_no_later_cell() {
    let mut k = open(common::py(""));
    k.interrupt();
    let c = k.cell("import time\ntime.sleep(0.5)\n'done'");
    assert!(!c.result.interrupted && c.result.error.is_none(), "{c:?}");
    assert_eq!(c.text(), ["'done'"]);
    k.close();
}
