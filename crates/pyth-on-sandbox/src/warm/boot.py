# Pyth-On warm bootstrap for Python (see warm.rs). Runs as `python3 -s -B -c <this>` inside a
# prepared sandbox, unprivileged and under seccomp, before any job exists. Descriptors:
# 3 release (read the job), 4 /code/main.py (write the program), 5 error, 6 status.
#
# It imports nothing it does not need: every module imported ahead of time costs each warm
# runner its import time and makes every program's exit slower (measured: `json`, which pulls
# in `re`, ~10 ms each way on this machine; `typing` + `dataclasses` ~20 ms of exit). So the
# release is length-prefixed fields (warm.rs, `encode_release`), parsed with built-ins only.
def _pyth_on_boot():
    import os
    import sys

    import _frozen_importlib_external
    import resource

    MAIN = "/code/main.py"
    MAX_FRAME = 64 << 20

    def fail(msg):
        try:
            os.write(5, msg.encode("utf-8", "replace"))
        finally:
            os._exit(125)

    os.write(6, b"ready 1\n")

    def read_exact(n):
        buf = bytearray()
        while len(buf) < n:
            chunk = os.read(3, min(n - len(buf), 1 << 20))
            if not chunk:
                fail("the release pipe closed before the job arrived")
            buf += chunk
        return bytes(buf)

    try:
        n = int.from_bytes(read_exact(4), "big")
        if n > MAX_FRAME:
            fail("release frame too large")
        body = memoryview(read_exact(n))
        pos = 0

        def field():
            nonlocal pos
            size = int.from_bytes(body[pos : pos + 4], "big")
            start = pos + 4
            pos = start + size
            if pos > len(body):
                fail("truncated release frame")
            return bytes(body[start:pos])

        timeout_ms = int(field())
        source = field()
        args = [field().decode() for _ in range(int(field()))]
        env = [(field().decode(), field().decode()) for _ in range(int(field()))]
        del body
        # RLIMIT_CPU was set from the profile; lower it to the job's (it cannot be raised).
        cpu = timeout_ms // 1000 + 2
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (min(cpu, hard), min(cpu + 1, hard)))
        view = memoryview(source)
        while view:
            view = view[os.write(4, view) :]
        os.close(4)
        for name, value in env:
            os.environ[name] = value
        if "TZ" in os.environ:
            import time

            time.tzset()
        sys.argv[:] = [MAIN, *args]
        sys.path[0] = "/code"
        del env, args, view
        main = type(sys)("__main__")
        main.__file__ = MAIN
        main.__cached__ = None
        main.__loader__ = _frozen_importlib_external.SourceFileLoader("__main__", MAIN)
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
