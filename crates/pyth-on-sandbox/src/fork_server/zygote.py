

# Pyth-On fork server (fork_server.rs): one Python interpreter, started once by a runner as
# root, with the standard library warmed, that never runs user code and never holds user data.
# For each request from a runner (a root process, checked by SO_PEERCRED) it forks the payload
# into the PID namespace of the sandbox the runner prepared (setns for its children, then back
# to its own); the payload enters the sandbox's other namespaces, joins the run's cgroup,
# drops every privilege and installs seccomp (the same steps and order as the Rust payload,
# child.rs), then waits for its job exactly like a pre-started interpreter (boot.py). The fork
# server stays the payload's parent (a process that enters a PID namespace this way is never
# re-parented to its init) and tells the sandbox's init how it ended, on the exit pipe.
#
# argv: [python3, -S, -s, -B, -c, <this>, SOCKET_NAME]; fd 3: the seccomp program (u32 count
# then count 8-byte sock_filter, native endian) until EOF; fd 0: a pipe from the
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
    import fcntl  # noqa: F401 (the payload's, imported here: no path search in a sandbox)
    import gc
    import os
    import resource  # noqa: F401 (likewise)
    import posix
    import select  # noqa: F401 (the serving loop's, imported before the fork server freezes)
    import signal
    import struct  # noqa: F401 (likewise: the requests')
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
    program = _pyth_on_seccomp_program()
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
    # (what a fresh interpreter would not: the server may have started it with some) and the
    # capget/capset array types (a ctypes array type is costly to create).
    keep = (signal.SIGKILL, signal.SIGSTOP, signal.SIGPIPE, signal.SIGXFSZ)
    ignored = [s for s in signal.valid_signals() if s not in keep and _pyth_on_ignored(s)]
    cap_arrays = (ctypes.c_uint32 * 2, ctypes.c_uint32 * 6)
    # Objects that exist now are never collected again: forked children then do not write to
    # (and copy) every page of them on their first collection.
    gc.collect()
    gc.freeze()
    env = types.SimpleNamespace(
        libc=libc,
        program=program,
        own_pid_ns=own_pid_ns,
        own_pid_ns_ino=os.fstat(own_pid_ns).st_ino,
        ignored=ignored,
        cap_arrays=cap_arrays,
    )
    try:
        posix.write(1, b"ready %d\n" % posix.getpid())
    except BrokenPipeError:
        # Whoever started this fork server stopped while it started: no request will come.
        posix._exit(0)
    _pyth_on_serve_forever(env, listener)
    posix._exit(0)


def _pyth_on_seccomp_program():
    # The seccomp program on fd 3 (a u32 count, then count 8-byte sock_filter) as a
    # sock_fprog for prctl, and the buffer it points into, kept beside it.
    import ctypes
    import posix
    import struct

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    raw = b""
    while True:
        chunk = posix.read(3, 1 << 16)
        if not chunk:
            break
        raw += chunk
    posix.close(3)
    count = struct.unpack_from("=I", raw)[0] if len(raw) >= 4 else 0
    if count == 0 or len(raw) != 4 + 8 * count:
        raise SystemExit("fork server: malformed seccomp program")
    buffer = ctypes.create_string_buffer(raw[4:], 8 * count)
    return (SockFprog(count, ctypes.addressof(buffer)), buffer)


def _pyth_on_serve_forever(env, listener):
    # Requests until the server closes stdin, then the reports of the payloads still
    # running.
    import os
    import posix
    import select

    poller = select.poll()
    poller.register(0, select.POLLIN)
    poller.register(listener.fileno(), select.POLLIN)
    # Payloads still running: their pidfd -> (pid, write end of their exit pipe).
    children = {}
    while listener is not None or children:
        for fd, _ in poller.poll():
            if fd == 0 and not posix.read(0, 4096):
                # The server is gone or retired us: take no more requests, but report the
                # end of every payload still running before leaving.
                poller.unregister(0)
                poller.unregister(listener.fileno())
                listener.close()
                listener = None
            elif listener is not None and fd == listener.fileno():
                try:
                    conn = _pyth_on_accept(listener)
                except OSError:
                    continue
                child = _pyth_on_serve(conn, env, children)
                if child is not None:
                    children[child[0]] = child[1:]
                    poller.register(child[0], select.POLLIN)
            elif fd in children:
                pid, exit_w = children.pop(fd)
                poller.unregister(fd)
                _pyth_on_report(pid, exit_w)
                os.close(fd)


def _pyth_on_drop_inherited(libc, cap_last):
    # What a fork inherits unchanged and this process needs none of (it never execs): the
    # capability bounding and ambient sets, PR_SET_KEEPCAPS and securebits, dropped once here
    # rather than in every payload. This process's own capabilities stay as they are; every
    # payload still empties its capability sets itself (capset, read back with capget).
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


def _pyth_on_report(pid, exit_w):
    # A payload ended: its exit status and CPU time to its sandbox's init.
    import os

    _, status, usage = os.wait4(pid, 0)
    if os.WIFSIGNALED(status):
        word = f"signal {os.WTERMSIG(status)}"
    else:
        word = f"code {os.waitstatus_to_exitcode(status)}"
    cpu_us = int((usage.ru_utime + usage.ru_stime) * 1e6)
    try:
        os.write(exit_w, f"cpu_us {cpu_us}\n{word}\n".encode())
    except OSError:
        pass  # init is gone already (killed at the deadline)
    os.close(exit_w)


def _pyth_on_serve(conn, env, children):
    # One request: fork the payload into the sandbox's PID namespace. Returns the payload's
    # (pidfd, pid, exit pipe) to watch, or None.
    import os
    import struct

    import _socket

    libc = env.libc
    fds, child = [], None
    try:
        conn.settimeout(5)
        creds = conn.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i"))
        if struct.unpack("3i", creds)[1] != 0:
            raise ValueError("requests are taken from root only")
        msg, fds = _pyth_on_recv_fds(conn, 1 << 16, 32)
        request = _pyth_on_request(msg)
        if len(fds) != 9 + request["cgroups"]:
            raise ValueError(f"{len(fds)} descriptors for {request['cgroups']} cgroups")
        if request["uid"] <= 0 or request["gid"] <= 0:
            raise ValueError("a payload never runs as root")
        # Children from now on are born in the sandbox's PID namespace (this process stays in
        # its own); the payload enters the other namespaces itself.
        if libc.setns(fds[0], 0x20000000) != 0:  # CLONE_NEWPID
            raise OSError(ctypes_errno(), "setns into the sandbox's PID namespace")
        try:
            if os.stat("/proc/self/ns/pid_for_children").st_ino == env.own_pid_ns_ino:
                raise ValueError("the sandbox must have a PID namespace of its own")
            pid = os.fork()
            if pid == 0:
                children.clear()  # nothing of other runs in the payload's memory
                _pyth_on_payload(env, request, fds)  # never returns
        finally:
            if libc.setns(env.own_pid_ns, 0x20000000) != 0:
                # Every later child would be born in that sandbox: stop serving at once.
                os._exit(70)
        try:
            child = (os.pidfd_open(pid), pid, os.dup(fds[7]))
        except OSError:
            os.kill(pid, 9)  # not watched, so not reported: never left running or unreaped
            os.waitpid(pid, 0)
            raise
        conn.sendall(b"ok\n")
    except Exception as e:
        try:
            conn.sendall(f"error {type(e).__name__}: {e}\n".encode())
        except OSError:
            pass
    finally:
        for fd in fds:
            os.close(fd)
        conn.close()
    return child


def _pyth_on_accept(listener):
    # socket.socket.accept without the `socket` module: a blocking connection, close-on-exec.
    import _socket

    fd, _ = listener._accept()
    return _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, fd)


def _pyth_on_recv_fds(conn, size, most):
    # socket.recv_fds without the `socket` module: the message and the descriptors that came
    # with it. A message whose descriptors did not all fit is refused (theirs closed).
    import os
    import struct

    import _socket

    msg, ancillary, flags, _ = conn.recvmsg(size, _socket.CMSG_LEN(most * 4))
    fds = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.extend(struct.unpack("%di" % (len(data) // 4), data[: len(data) // 4 * 4]))
    if flags & _socket.MSG_CTRUNC:
        for fd in fds:
            os.close(fd)
        raise ValueError(f"more than {most} descriptors")
    return msg, fds


def _pyth_on_request(msg):
    # One line of space-separated fields (fork_server.rs, `request`): six integers, then the
    # program's path. Not JSON: parsing that in this process writes to more of its pages,
    # each one then copied again after the next fork.
    fields = msg.split()
    if len(fields) != 7:
        raise ValueError(f"a request has 7 fields, not {len(fields)}")
    uid, gid, nofile, fsize, cpu, cgroups = (int(f) for f in fields[:6])
    return {
        "uid": uid,
        "gid": gid,
        "nofile": nofile,
        "fsize": fsize,
        "cpu": cpu,
        "cgroups": cgroups,
        "main": fields[6].decode(),
    }


def ctypes_errno():
    import ctypes

    return ctypes.get_errno()


def _pyth_on_payload(env, request, fds):
    # The payload (pid 2 of the sandbox), root until the credentials below. Same steps and
    # order as the Rust payload (child.rs, payload_setup). Never returns.
    import os
    import sys
    import time

    started = time.monotonic()
    placed = []  # set once the descriptors are in their places (the error pipe is then 5)
    try:
        # Mount, UTS, IPC, network and cgroup namespaces of the sandbox (PID: born there).
        if env.libc.setns(fds[0], 0x00020000 | 0x04000000 | 0x08000000 | 0x40000000 | 0x02000000) != 0:
            raise OSError(ctypes_errno(), "setns into the sandbox")
        _pyth_on_isolate(env, request, fds, placed)
        # The notice pipe's identity, and the payload's pid: run.py writes to fd 7 only while
        # it is still that pipe, and only from this process.
        st = os.fstat(7)
        notice = (7, (st.st_dev, st.st_ino), os.getpid())
    except BaseException as e:
        # The fork server reports the exit (125) to init.
        try:
            os.write(5 if placed else fds[4], f"fork server payload: {e}".encode("utf-8", "replace"))
        finally:
            os._exit(125)
    request.clear()
    fds.clear()
    # The local time zone is the sandbox's /etc/localtime, read again.
    time.tzset()
    os.write(6, b"privileges_ms %.3f\n" % ((time.monotonic() - started) * 1000))
    _pyth_on_boot(prepared=True, notice=notice)


def _pyth_on_isolate(env, request, fds, placed):
    import ctypes
    import fcntl
    import os
    import resource
    import signal

    libc = env.libc
    _, stdin, stdout, stderr, error, status, release, _, notice = fds[:9]
    for procs in fds[9:]:
        os.write(procs, b"0")
    os.chdir("/work")
    code = os.open(request["main"], os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    # Everything onto its place: 0-2 stdio, 3 release, 4 program file, 5 error, 6 status,
    # 7 notice; copies above the targets first, so that no dup2 closes a source still needed.
    wanted = [
        (stdin, 0), (stdout, 1), (stderr, 2), (release, 3), (code, 4), (error, 5), (status, 6),
        (notice, 7),
    ]
    high = [(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64), target) for fd, target in wanted]
    for copy, target in high:
        os.dup2(copy, target, inheritable=target <= 2)
    os.closerange(8, 0x7FFFFFFF)
    for target in range(3, 8):
        os.set_inheritable(target, False)
    placed.append(True)
    # A session of its own: the server's process group is out of reach of kill(0, ...).
    os.setsid()
    limits = [
        (resource.RLIMIT_NOFILE, request["nofile"], request["nofile"]),
        (resource.RLIMIT_FSIZE, request["fsize"], request["fsize"]),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_MEMLOCK, 64 << 10, 64 << 10),
        (resource.RLIMIT_MSGQUEUE, 0, 0),
        (resource.RLIMIT_CPU, request["cpu"], request["cpu"] + 1),
    ]
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))
    # What a fresh interpreter has: SIGINT raises KeyboardInterrupt, SIGPIPE and SIGXFSZ
    # ignored (it set them up itself in this process), every other signal at its default
    # (`env.ignored`: those the fork server found ignored when it started).
    for sig in env.ignored:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])

    def prctl(option, arg2, arg3=0):
        if libc.prctl(option, arg2, arg3, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"prctl {option}")

    # The bounding and ambient sets, keepcaps and securebits: dropped by the fork server
    # before its first fork, inherited so (_pyth_on_drop_inherited).
    uid, gid = request["uid"], request["gid"]
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise OSError("credentials did not change")
    _pyth_on_clear_capabilities(libc, env.cap_arrays)
    # The uid change made the process non-dumpable (its /proc files root's); an exec would
    # have made it dumpable again, as every run's interpreter is: do what the exec would.
    prctl(4, 1)  # PR_SET_DUMPABLE
    prctl(38, 1)  # PR_SET_NO_NEW_PRIVS
    for which in (0, 1):  # PR_SET_SPECULATION_CTRL store bypass, indirect branch: best effort
        libc.prctl(53, which, 1 << 3, 0, 0)
    if libc.prctl(22, 2, ctypes.addressof(env.program[0]), 0, 0) != 0:  # PR_SET_SECCOMP
        raise OSError(ctypes.get_errno(), "seccomp")


def _pyth_on_clear_capabilities(libc, cap_arrays):
    # capset: effective, permitted and inheritable all empty (whatever securebits or the
    # server's inheritable set were), then capget must read back nothing, as child.rs does.
    import ctypes

    header = cap_arrays[0](0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = cap_arrays[1]()
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    if libc.capget(header, data) != 0 or any(data):
        raise OSError("capabilities remain after capset")


# Never the server's working directory on the import path (a run sets it to /code as well).
__import__("sys").path[0] = "/code"
_pyth_on_zygote()
