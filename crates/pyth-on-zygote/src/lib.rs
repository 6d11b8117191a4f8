//! `libpyth_on_zygote.so`: the C entry point of the fork server's native loop
//! ([`pyth_on_sandbox::fork_server::native`]), which the Python fork server (`zygote.py`)
//! loads with `ctypes.PyDLL` (the call keeps the GIL: the fork server has no other thread)
//! and calls once. Installed beside `pyth-on-runner`, which finds it there.
#![deny(unsafe_code)]

use std::ffi::{c_char, c_int};
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};

use pyth_on_sandbox::fork_server::native::{self, ForkHooks, Served};

/// What [`pyth_on_zygote_serve`] fills in: the payload's notice pipe and pid (returned 1), or
/// why the loop stopped (returned -1), NUL-terminated.
#[repr(C)]
#[derive(Debug)]
pub struct ZygoteOut {
    /// The notice pipe's device.
    pub notice_dev: u64,
    /// The notice pipe's inode.
    pub notice_ino: u64,
    /// The payload's pid.
    pub pid: i32,
    /// A failure's message.
    pub error: [c_char; 512],
}

/// The build of the sandbox crate this library was compiled from
/// ([`pyth_on_sandbox::fork_server::BUILD_MARKER`], NUL-terminated): exported so that the
/// marker stays in the library, where the runner looks for its own before it starts a fork
/// server with it.
#[no_mangle]
#[allow(
    unsafe_code,
    reason = "an exported symbol: its name must be unique among the libraries loaded"
)]
pub extern "C" fn pyth_on_zygote_build() -> *const c_char {
    pyth_on_sandbox::fork_server::BUILD_MARKER.as_ptr().cast()
}

/// A function of the interpreter (`PyOS_BeforeFork`, `PyOS_AfterFork_Parent`).
pub type Hook = Option<unsafe extern "C" fn()>;

/// Serves the fork server's requests on `listener` (taken over: closed once stdin ends) until
/// its stdin ends: 0 when every payload was reported (the fork server exits), 1 in a forked
/// payload once it is isolated in its sandbox (`out` says where its notice pipe is), -1 on a
/// failure of the loop itself (`out` says which). `before_fork` and `after_fork_parent` are
/// called around each fork, in the fork server, as `os.fork` calls them.
///
/// # Safety
///
/// `listener` is an open descriptor that the caller gives up (nothing else closes it);
/// `own_pid_ns` is one the caller keeps open for the call; `out` points at a writable
/// `ZygoteOut`; the two hooks are the interpreter's, callable from this thread (which holds
/// the GIL: `ctypes.PyDLL`); the calling process has a single thread.
#[no_mangle]
#[allow(unsafe_code)]
pub unsafe extern "C" fn pyth_on_zygote_serve(
    listener: c_int,
    own_pid_ns: c_int,
    before_fork: Hook,
    after_fork_parent: Hook,
    out: *mut ZygoteOut,
) -> c_int {
    // SAFETY: the caller gives `listener` up to this function (see above).
    let listener = unsafe { OwnedFd::from_raw_fd(listener) };
    // SAFETY: the caller keeps `own_pid_ns` open for the whole call (see above).
    let own = unsafe { BorrowedFd::borrow_raw(own_pid_ns) };
    // SAFETY: `out` points at a writable ZygoteOut (see above) that nothing else uses now.
    let out = unsafe { &mut *out };
    // SAFETY: both hooks are the interpreter's functions, called with the GIL held (above).
    let call = |hook: Hook| move || hook.map_or((), |f| unsafe { f() });
    let (before, parent) = (call(before_fork), call(after_fork_parent));
    let hooks = ForkHooks {
        before: &before,
        parent: &parent,
    };
    match native::serve(listener, own, hooks) {
        Ok(Served::Retired) => 0,
        Ok(Served::Payload(placed)) => {
            (out.notice_dev, out.notice_ino) = placed.notice;
            out.pid = placed.pid;
            1
        }
        Err(e) => {
            let message = e.to_string();
            let room = out.error.len() - 1;
            for (slot, byte) in out.error.iter_mut().zip(message.bytes().take(room)) {
                *slot = byte as c_char;
            }
            out.error[message.len().min(room)] = 0;
            -1
        }
    }
}
