

# Pyth-On fork server (fork_server.rs): one Python interpreter, started once by a runner as
# root, with the standard library warmed, that never runs user code and never holds user data.
# For each request from a runner (a root process, checked by SO_PEERCRED) it forks; the child
# enters the namespaces of the sandbox the runner prepared and forks the payload there, which
# joins the run's cgroup, drops every privilege and installs seccomp (the same steps and order
# as the Rust payload, child.rs), then waits for its job exactly like a pre-started
# interpreter (boot.py). The child stays outside the sandbox only to wait for the payload and
# tell the sandbox's init how it ended.
#
# argv: [python3, -S, -s, -B, -c, <this>, SOCKET_NAME]; fd 3: the seccomp programs (u32 count
# then count 8-byte sock_filter, per filter, native endian) until EOF; fd 0: a pipe from the
# server whose EOF ends the fork server; one line "ready PID" on stdout once listening.

# Modules imported once here, so that a program's imports of them cost nothing. Each must be
# safe to share across forks: `random` re-seeds itself in every child (os.register_at_fork),
# `tempfile` re-creates its name generator when the pid changes, `hashlib`'s OpenSSL re-seeds
# its generator after fork; nothing here opens a descriptor or starts a thread.
_PYTH_ON_PRELOAD = (
    "abc argparse base64 bisect collections contextlib copy csv dataclasses datetime decimal "
    "enum fractions functools hashlib heapq io itertools json math operator pathlib pprint "
    "random re statistics string struct textwrap time typing uuid"
).split()


def _pyth_on_zygote():
    import ctypes
    import gc
    import os
    import posix
    import select
    import signal
    import socket
    import struct
    import sys

    for name in _PYTH_ON_PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    raw = b""
    while True:
        chunk = posix.read(3, 1 << 16)
        if not chunk:
            break
        raw += chunk
    posix.close(3)
    programs, pos = [], 0
    while pos < len(raw):
        (count,) = struct.unpack_from("=I", raw, pos)
        body = raw[pos + 4 : pos + 4 + 8 * count]
        pos += 4 + 8 * count
        buffer = ctypes.create_string_buffer(body, len(body))
        programs.append((SockFprog(count, ctypes.addressof(buffer)), buffer))
    if len(programs) != 2 or pos != len(raw):
        raise SystemExit("fork server: malformed seccomp programs")
    with open("/proc/sys/kernel/cap_last_cap") as f:
        cap_last = int(f.read())

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    listener.bind("\0" + sys.argv[1])
    listener.listen(128)
    # Children are reaped by the kernel; each child sets SIGCHLD back to default first.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    _pyth_on_prepare()
    # Objects that exist now are never collected again: forked children then do not write to
    # (and copy) every page of them on their first collection.
    gc.collect()
    gc.freeze()
    env = (libc, programs, cap_last, listener)
    posix.write(1, b"ready %d\n" % posix.getpid())
    poller = select.poll()
    poller.register(0, select.POLLIN)
    poller.register(listener.fileno(), select.POLLIN)
    while True:
        for fd, _ in poller.poll():
            if fd == 0 and not posix.read(0, 4096):
                posix._exit(0)  # the server is gone or retired us
            if fd == listener.fileno():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                _pyth_on_serve(conn, env)


def _pyth_on_serve(conn, env):
    import json
    import os
    import socket
    import struct

    fds = []
    try:
        conn.settimeout(5)
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        if struct.unpack("3i", creds)[1] != 0:
            raise ValueError("requests are taken from root only")
        msg, fds, _, _ = socket.recv_fds(conn, 1 << 16, 32)
        request = json.loads(msg)
        if len(fds) != 8 + request["cgroups"]:
            raise ValueError(f"{len(fds)} descriptors for {request['cgroups']} cgroups")
        if os.fork() == 0:
            _pyth_on_enter(conn, env, request, fds)  # never returns
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


def _pyth_on_enter(conn, env, request, fds):
    # The child, still root and outside the sandbox: enter its namespaces (init's pidfd, one
    # setns for all), then fork the payload there and wait for it. Never returns.
    import os
    import signal

    libc, programs, cap_last, listener = env
    pidfd, exit_w, error = fds[0], fds[7], fds[4]
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        listener.close()
        conn.close()
        os.close(0)
        # mount, UTS, IPC, network, PID (for children), cgroup.
        if libc.setns(pidfd, 0x00020000 | 0x04000000 | 0x08000000 | 0x40000000 | 0x20000000 | 0x02000000) != 0:
            raise OSError(ctypes_errno(), "setns into the sandbox")
        payload = os.fork()
        if payload == 0:
            _pyth_on_payload(env, request, fds)  # never returns
    except BaseException as e:
        _pyth_on_fail(error, exit_w, f"fork server: {e}")
    for fd in fds:
        if fd != exit_w:
            os.close(fd)
    while True:
        try:
            _, status, usage = os.wait4(payload, 0)
            break
        except InterruptedError:
            continue
    word = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"code {os.waitstatus_to_exitcode(status)}"
    cpu_us = int((usage.ru_utime + usage.ru_stime) * 1e6)
    try:
        os.write(exit_w, f"cpu_us {cpu_us}\n{word}\n".encode())
    finally:
        os._exit(0)


def ctypes_errno():
    import ctypes

    return ctypes.get_errno()


def _pyth_on_fail(error, exit_w, message):
    import os

    try:
        os.write(error, message.encode("utf-8", "replace"))
        os.write(exit_w, b"code 125\n")
    finally:
        os._exit(125)


def _pyth_on_payload(env, request, fds):
    # The payload (pid 2 of the sandbox), root until the credentials below. Same steps and
    # order as the Rust payload (child.rs, payload_setup). Never returns.
    import os
    import time

    started = time.monotonic()
    try:
        _pyth_on_isolate(env, request, fds)
    except BaseException as e:
        # The error pipe is fd 5 once the descriptors are in place, fds[4] before; the child
        # outside reports the exit (125) to init.
        for fd in (5, fds[4]):
            try:
                os.write(fd, f"fork server payload: {e}".encode("utf-8", "replace"))
                break
            except OSError:
                continue
        os._exit(125)
    os.write(6, b"privileges_ms %.3f\n" % ((time.monotonic() - started) * 1000))
    _pyth_on_boot(prepared=True)


def _pyth_on_isolate(env, request, fds):
    import ctypes
    import os
    import resource
    import signal

    libc, programs, cap_last, _ = env
    _, stdin, stdout, stderr, error, status, release, exit_w = fds[:8]
    for procs in fds[8:]:
        os.write(procs, b"0")
    os.chdir("/work")
    code = os.open(request["main"], os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    # Everything onto its place: 0-2 stdio, 3 release, 4 program file, 5 error, 6 status;
    # copies above the targets first, so that no dup2 closes a source still needed.
    import fcntl

    wanted = [(stdin, 0), (stdout, 1), (stderr, 2), (release, 3), (code, 4), (error, 5), (status, 6)]
    high = [(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64), target) for fd, target in wanted]
    for copy, target in high:
        os.dup2(copy, target, inheritable=target <= 2)
    os.closerange(7, 1 << 20)
    for target in range(3, 7):
        os.set_inheritable(target, False)
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
    # ignored (it set them up itself in this process), every other signal at its default.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])

    def prctl(option, arg2, arg3=0):
        if libc.prctl(option, arg2, arg3, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"prctl {option}")

    for cap in range(cap_last + 1):
        prctl(24, cap)  # PR_CAPBSET_DROP
    prctl(47, 4)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL
    uid, gid = request["uid"], request["gid"]
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)  # from root to another uid: every capability is cleared
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise OSError("credentials did not change")
    # The uid change made the process non-dumpable (its /proc files root's); an exec would
    # have made it dumpable again, as every run's interpreter is: do what the exec would.
    prctl(4, 1)  # PR_SET_DUMPABLE
    prctl(38, 1)  # PR_SET_NO_NEW_PRIVS
    for which in (0, 1):  # PR_SET_SPECULATION_CTRL store bypass, indirect branch: best effort
        libc.prctl(53, which, 1 << 3, 0, 0)
    for program, _ in programs:
        if libc.prctl(22, 2, ctypes.addressof(program), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
            raise OSError(ctypes.get_errno(), "seccomp")


_pyth_on_zygote()
