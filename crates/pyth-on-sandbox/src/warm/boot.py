# Pyth-On warm bootstrap for Python (see warm.rs). Runs as `python3 -s -B -c <this>` inside a
# prepared sandbox, unprivileged and under seccomp, before any job exists. Descriptors:
# 3 release (read the job), 4 /code/main.py (write the program), 5 error, 6 status.
def _pyth_on_boot():
    import os
    import sys

    MAIN = "/code/main.py"
    MAX_FRAME = 64 << 20

    def fail(msg):
        try:
            os.write(5, msg.encode("utf-8", "replace"))
        finally:
            os._exit(125)

    # Only what the bootstrap needs (json brings re). Importing more ahead of time would save
    # those imports for programs that use them, but every imported module makes the
    # interpreter's exit slower for every program (measured: typing + dataclasses add ~20 ms
    # of exit on this machine, more than a print(1) takes), so the set stays minimal.
    import importlib.machinery
    import json
    import resource
    import struct
    import time
    import types

    os.write(6, b"ready 1\n")

    def read_exact(n):
        buf = bytearray()
        while len(buf) < n:
            chunk = os.read(3, n - len(buf))
            if not chunk:
                fail("the release pipe closed before the job arrived")
            buf += chunk
        return bytes(buf)

    try:
        (n,) = struct.unpack(">I", read_exact(4))
        if n > MAX_FRAME:
            fail("release frame too large")
        job = json.loads(read_exact(n))
        # RLIMIT_CPU was set from the profile; lower it to the job's (it cannot be raised).
        cpu = job["timeout_ms"] // 1000 + 2
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (min(cpu, hard), min(cpu + 1, hard)))
        source = job["code"].encode("utf-8")
        view = memoryview(source)
        while view:
            view = view[os.write(4, view):]
        os.close(4)
        for var in job["env"]:
            os.environ[var["name"]] = var["value"]
        if "TZ" in os.environ:
            time.tzset()
        sys.argv[:] = [MAIN, *job["args"]]
        sys.path[0] = "/code"
        del job, view
        main = types.ModuleType("__main__")
        main.__file__ = MAIN
        main.__cached__ = None
        main.__loader__ = importlib.machinery.SourceFileLoader("__main__", MAIN)
        main.__builtins__ = __builtins__
        sys.modules["__main__"] = main
    except Exception as e:  # a broken job frame: nothing of the user runs
        fail(f"bootstrap: {type(e).__name__}: {e}")
    os.close(3)
    os.close(6)
    # Last: EOF on the error pipe tells the supervisor the user's program starts now.
    os.close(5)
    try:
        exec(compile(source, MAIN, "exec", dont_inherit=True), main.__dict__)
    except SystemExit:
        raise
    except BaseException as e:
        # What `python3 main.py` prints: the traceback without this bootstrap's frame (a
        # SyntaxError from compile() above then has no frames at all, as it would there).
        tb = e.__traceback__.tb_next
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        sys.exit(1)


_pyth_on_boot()
