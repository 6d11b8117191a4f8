

# Pre-started runs: this part waits for the job. It imports nothing it does not need: every
# module imported ahead of time costs each warm runner its import time and makes every
# program's exit slower (measured: `json`, which pulls in `re`, ~10 ms each way on this
# machine), so the release is length-prefixed fields (warm.rs, `encode_release`) parsed with
# built-ins only, and it uses `posix`, not `os` (which `-S` leaves unimported).
def _pyth_on_boot(prepared=False, notice=None):
    import posix
    import sys

    import resource

    MAX_FRAME = 64 << 20

    def fail(msg):
        try:
            posix.write(5, msg.encode("utf-8", "replace"))
        finally:
            posix._exit(125)

    if not prepared:  # a fork server prepared once, before it forked this process
        _pyth_on_prepare()
    posix.write(6, b"ready 1\n")

    def read_exact(n):
        buf = bytearray()
        while len(buf) < n:
            chunk = posix.read(3, min(n - len(buf), 1 << 20))
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
            view = view[posix.write(4, view) :]
        posix.close(4)
        # Without a fork server `os` is not imported yet: os.environ will be built from
        # posix.environ when the program imports it; putenv is what C code (and children)
        # read. A fork server imported `os` already: its os.environ is updated (and putenv'd).
        environ = getattr(sys.modules.get("os"), "environ", None)
        for name, value in env:
            if environ is not None:
                environ[name] = value
            else:
                posix.environ[name.encode()] = value.encode()
                posix.putenv(name, value)
            if name == "PYTHONPATH":
                # What the interpreter does with it at start, for one already running:
                # its entries go right after the script's directory.
                sys.path[1:1] = [p for p in value.split(":") if p]
        if any(name == "TZ" for name, _ in env):
            import time

            time.tzset()
        del env, view
    except Exception as e:  # a broken job frame: nothing of the user runs
        fail(f"bootstrap: {type(e).__name__}: {e}")
    posix.close(3)
    posix.close(6)
    # Last: EOF on the error pipe tells the supervisor the user's program starts now.
    posix.close(5)
    _pyth_on_run(source, args, notice)
