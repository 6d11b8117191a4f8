

# Pyth-On fork server (fork_server.rs): one Python interpreter, started once by a runner as
# root, with the standard library warmed, that never runs user code and never holds user data.
# Its serving loop is native code (libpyth_on_zygote.so, fork_server/native.rs), loaded with
# ctypes and called once: for each request from a runner (a root process, checked by
# SO_PEERCRED) it forks the payload into the PID namespace of the sandbox the runner prepared
# (setns for its children, then back to its own); the payload enters the sandbox's other
# namespaces, joins the run's cgroup, drops every privilege and installs seccomp (the same
# steps and order as the Rust payload, child.rs; fork_server/payload.rs) before it returns to
# Python here, which does the interpreter's own after-fork work and waits for its job exactly
# like a pre-started interpreter (boot.py). Python code would write to (and so copy) every
# object it touches after each fork, in the fork server and in the payload. The fork server
# stays the payload's parent (a process that enters a PID namespace this way is never
# re-parented to its init) and tells the sandbox's init how it ended, on the exit pipe.
#
# argv: [python3, -S, -s, -B, -c, <this>, SOCKET_NAME, NATIVE_LIBRARY]; fd 0: a pipe from the
# server whose EOF ends the fork server; one line "ready PID" on stdout once listening.

# Modules imported once here, so that a program's imports of them cost nothing: the common
# ones whose import takes time (these 8 took 10.8 ms here). Each must be safe to share across
# forks: `random` re-seeds itself in every child (os.register_at_fork); nothing here opens a
# descriptor or starts a thread. Measured trade-off: every MB the fork server holds makes each
# fork and exit dearer (32 modules, 18 MB: 110 runs/s with 4 clients; none, 8.6 MB: 122;
# these, 10.6 MB: docs/PERFORMANCE.md).
_PYTH_ON_PRELOAD = "collections datetime functools itertools json math random re".split()


def _pyth_on_zygote():
    import ctypes
    import gc
    import resource  # noqa: F401 (the payload's, imported here: no path search in a sandbox)
    import posix
    import signal
    import sys
    import types

    for name in _PYTH_ON_PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
    native = _pyth_on_native(sys.argv[2])
    with open("/proc/sys/kernel/cap_last_cap") as f:
        cap_last = int(f.read())
    _pyth_on_drop_inherited(libc, cap_last)

    # Entering a sandbox's mount namespace needs CAP_SYS_ADMIN and CAP_SYS_CHROOT: check
    # once, on its own, rather than fail every run (the server then starts interpreters).
    posix.chdir("/")
    mnt = posix.open("/proc/self/ns/mnt", posix.O_RDONLY | posix.O_CLOEXEC)
    if libc.setns(mnt, 0x00020000) != 0:  # CLONE_NEWNS
        raise SystemExit(
            f"fork server: cannot enter a mount namespace (errno {ctypes.get_errno()}): "
            "it needs CAP_SYS_ADMIN and CAP_SYS_CHROOT"
        )
    posix.close(mnt)
    # `_socket`, not `socket`: that module (its enums of every constant) is 0.47 MB more in
    # this process, which every fork copies and every payload's exit frees.
    import _socket

    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    listener.bind("\0" + sys.argv[1])
    listener.listen(128)
    # Its own PID namespace, to return to after each fork into a sandbox's.
    own_pid_ns = posix.open("/proc/self/ns/pid", posix.O_RDONLY | posix.O_CLOEXEC)
    _pyth_on_prepare()
    # What the server's imports left in the finders' caches (directory listings) is not a
    # run's: dropped once here (nothing is imported after this in the fork server).
    for key in [k for k in sys.path_importer_cache if k not in sys.path[1:]]:
        del sys.path_importer_cache[key]
    # The same in every payload, so worked out once: the signals this process has ignored
    # (what a fresh interpreter would not: the server may have started it with some).
    keep = (signal.SIGKILL, signal.SIGSTOP, signal.SIGPIPE, signal.SIGXFSZ)
    ignored = [s for s in signal.valid_signals() if s not in keep and _pyth_on_ignored(s)]
    # What os.fork does around each fork: before it, the interpreter's locks taken and the
    # os.register_at_fork `before` hooks; after it, in the fork server, those locks released
    # (both called by the native loop); in the child before any Python code, the locks and
    # thread states made this process's and the `after_in_child` hooks (`random` re-seeds
    # itself there).
    hooks = [
        ctypes.cast(ctypes.pythonapi.PyOS_BeforeFork, ctypes.c_void_p),
        ctypes.cast(ctypes.pythonapi.PyOS_AfterFork_Parent, ctypes.c_void_p),
    ]
    after_fork = ctypes.pythonapi.PyOS_AfterFork_Child
    after_fork.argtypes, after_fork.restype = [], None
    # Objects that exist now are never collected again: forked children then do not write to
    # (and copy) every page of them on their first collection.
    gc.collect()
    gc.freeze()
    env = types.SimpleNamespace(
        native=native,
        own_pid_ns=own_pid_ns,
        ignored=ignored,
        hooks=hooks,
        after_fork=after_fork,
    )
    try:
        posix.write(1, b"ready %d\n" % posix.getpid())
    except BrokenPipeError:
        # Whoever started this fork server stopped while it started: no request will come.
        posix._exit(0)
    _pyth_on_serve_forever(env, listener)
    posix._exit(0)


def _pyth_on_native(path):
    # libpyth_on_zygote.so (the pyth-on-zygote crate): its serving loop, called with the GIL
    # held (PyDLL: this process has no other thread).
    import ctypes
    import types

    class Out(ctypes.Structure):
        _fields_ = [
            ("notice_dev", ctypes.c_uint64),
            ("notice_ino", ctypes.c_uint64),
            ("pid", ctypes.c_int32),
            ("error", ctypes.c_char * 512),
        ]

    try:
        lib = ctypes.PyDLL(path)
    except OSError as e:
        raise SystemExit(f"fork server: loading its native part: {e}")
    serve = lib.pyth_on_zygote_serve
    hook = ctypes.c_void_p
    serve.argtypes = [ctypes.c_int, ctypes.c_int, hook, hook, ctypes.POINTER(Out)]
    serve.restype = ctypes.c_int
    return types.SimpleNamespace(serve=serve, out=Out)


def _pyth_on_serve_forever(env, listener):
    # Requests until the server closes stdin, then the reports of the payloads still running
    # (native.rs). Returns in a forked payload, isolated in its sandbox.
    import ctypes
    import posix

    out = env.native.out()
    # The listener's descriptor is the loop's from now on (it closes it when stdin ends; a
    # payload forgets it): the socket object here holds nothing any more.
    fd = listener.detach()
    rc = env.native.serve(fd, env.own_pid_ns, *env.hooks, ctypes.byref(out))
    if rc == 1:
        env.after_fork()
        _pyth_on_payload(env, out)  # never returns
    if rc != 0:
        raise SystemExit("fork server: " + out.error.decode("utf-8", "replace"))
    posix._exit(0)


def _pyth_on_drop_inherited(libc, cap_last):
    # What a fork inherits unchanged and this process needs none of (it never execs): the
    # capability bounding and ambient sets, PR_SET_KEEPCAPS and securebits, dropped once here
    # rather than in every payload. This process's own capabilities stay as they are; every
    # payload still empties its capability sets itself (capset, payload.rs).
    import ctypes

    def prctl(option, arg2, arg3=0):
        if libc.prctl(option, arg2, arg3, 0, 0) != 0:
            raise SystemExit(f"fork server: prctl {option}: errno {ctypes.get_errno()}")

    for cap in range(cap_last + 1):
        prctl(24, cap)  # PR_CAPBSET_DROP
    prctl(47, 4)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL
    prctl(8, 0)  # PR_SET_KEEPCAPS off
    libc.prctl(28, 0, 0, 0, 0)  # PR_SET_SECUREBITS: none (best effort; payloads check capget)
    if any(libc.prctl(23, cap, 0, 0, 0) != 0 for cap in range(cap_last + 1)):  # CAPBSET_READ
        raise SystemExit("fork server: the capability bounding set is not empty")


def _pyth_on_ignored(sig):
    # Whether `sig` is ignored (signals Python cannot handle, such as the real-time ones glibc
    # keeps, count as not).
    import signal

    try:
        return signal.getsignal(sig) == signal.SIG_IGN
    except (OSError, ValueError):
        return False


def _pyth_on_payload(env, out):
    # A forked payload, in its sandbox already with every privilege dropped (payload.rs):
    # what a fresh interpreter would have, then its job. Never returns.
    import posix
    import signal
    import time

    try:
        # SIGINT raises KeyboardInterrupt, SIGPIPE and SIGXFSZ ignored (set up by this
        # interpreter itself), every other signal at its default (`env.ignored`: those the
        # fork server found ignored when it started).
        for sig in env.ignored:
            signal.signal(sig, signal.SIG_DFL)
        # The local time zone is the sandbox's /etc/localtime, read again.
        time.tzset()
        _pyth_on_warm_path()
    except BaseException as e:
        # The fork server reports the exit (125) to init.
        try:
            posix.write(5, f"fork server payload: {e}".encode("utf-8", "replace"))
        finally:
            posix._exit(125)
    # The notice pipe's identity, and the payload's pid: run.py writes to fd 7 only while it
    # is still that pipe, and only from this process.
    notice = (7, (out.notice_dev, out.notice_ino), out.pid)
    _pyth_on_boot(prepared=True, notice=notice)


def _pyth_on_warm_path():
    # Before the job, the steps a run takes first (run.py, `_pyth_on_run`: a `__main__`
    # module and its loader, compile, exec, a write to stdout), on a program of ours in a
    # module thrown away at once. Each page they write is the payload's own copy from then
    # on: the run finds them copied already (measured: 69 faults from the job to the first
    # line of a program before, 21 after; as many in all, docs/PERFORMANCE.md). Nothing of
    # it stays: the module is in no table, its objects are freed, '' writes nothing.
    import builtins
    import sys

    import _frozen_importlib_external

    path = "/code/main.py"
    scratch = type(sys)("__main__")
    scratch.__file__ = path
    scratch.__cached__ = None
    scratch.__loader__ = _frozen_importlib_external.SourceFileLoader("__main__", path)
    scratch.__builtins__ = builtins
    program = compile("import sys\nsys.stdout.write('')\n", path, "exec", dont_inherit=True)
    exec(program, scratch.__dict__)


# Never the server's working directory on the import path (a run sets it to /code as well).
__import__("sys").path[0] = "/code"
_pyth_on_zygote()
