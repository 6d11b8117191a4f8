

# Pyth-On session kernel for Python (see session/mod.rs): runs cells like a notebook kernel.
# Descriptors: 3 cells in (length-prefixed JSON), 4 /code/main.py (unused: closed), 5 error,
# 6 status, 7 cell results out (length-prefixed JSON). SIGINT interrupts the running cell.
def _pyth_on_kernel():
    import builtins
    import posix
    import sys

    import _signal

    MAX_FRAME = 64 << 20

    def fail(msg):
        try:
            posix.write(5, msg.encode("utf-8", "replace"))
        finally:
            posix._exit(125)

    _pyth_on_prepare()
    import ast
    import base64
    import json
    import linecache
    import traceback

    posix.close(4)
    posix.write(6, b"ready 1\n")

    def read_exact(n):
        buf = bytearray()
        while len(buf) < n:
            chunk = posix.read(3, min(n - len(buf), 1 << 20))
            if not chunk:
                posix._exit(0)  # the supervisor closed the session
            buf += chunk
        return bytes(buf)

    def read_frame():
        n = int.from_bytes(read_exact(4), "big")
        if n > MAX_FRAME:
            fail("cell frame too large")
        return json.loads(read_exact(n))

    def write_frame(obj):
        body = json.dumps(obj).encode()
        view = memoryview(len(body).to_bytes(4, "big") + body)
        while view:
            view = view[posix.write(7, view) :]

    try:
        opening = read_frame()
        posix.environ.setdefault(b"MPLBACKEND", b"Agg")
        posix.putenv("MPLBACKEND", posix.environ[b"MPLBACKEND"].decode())
        for name, value in opening["env"]:
            posix.environ[name.encode()] = value.encode()
            posix.putenv(name, value)
        if b"TZ" in posix.environ:
            import time

            time.tzset()
        del opening
        posix.set_inheritable(3, False)
        posix.set_inheritable(7, False)
    except Exception as e:
        fail(f"session kernel: {type(e).__name__}: {e}")
    sys.argv[:] = [""]
    # The interpreter read its path before the opening record set PYTHONPATH (the package
    # environment); like a notebook, modules next to the session's files import first.
    extra = posix.environ.get(b"PYTHONPATH", b"").decode().split(":")
    sys.path[0:0] = ["/work"] + [p for p in extra if p and p not in sys.path]
    main = type(sys)("__main__")
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    ns = main.__dict__
    state = {"results": [], "size": 0, "truncated": False, "max": 0}

    def add(mime, data):
        if state["size"] + len(data) > state["max"]:
            state["truncated"] = True
            return
        state["size"] += len(data)
        state["results"].append({"mime": mime, "data": data})

    REPRS = (
        ("_repr_png_", "image/png", "b64"),
        ("_repr_jpeg_", "image/jpeg", "b64"),
        ("_repr_svg_", "image/svg+xml", "text"),
        ("_repr_html_", "text/html", "text"),
        ("_repr_markdown_", "text/markdown", "text"),
        ("_repr_latex_", "text/latex", "text"),
        ("_repr_json_", "application/json", "json"),
    )

    def figure_png(fig):
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        return base64.b64encode(buf.getvalue()).decode()

    def bundle(obj):
        if type(obj).__module__ == "matplotlib.figure" and hasattr(obj, "savefig"):
            return [("image/png", figure_png(obj))]
        out = []
        for attr, mime, kind in REPRS:
            # Looked up on the type, as IPython does: an instance __getattr__ answers anything.
            if getattr(type(obj), attr, None) is None:
                continue
            try:
                value = getattr(obj, attr)()
            except Exception:
                continue
            if isinstance(value, tuple):
                value = value[0]  # (data, metadata)
            if value is None:
                continue
            if kind == "b64" and isinstance(value, (bytes, bytearray)):
                value = base64.b64encode(value).decode()
            elif kind == "json":
                value = json.dumps(value)
            out.append((mime, str(value)))
        return out or [("text/plain", repr(obj))]

    def display(*objs):
        """Shows each object as a rich result of the cell (IPython's display protocol)."""
        for obj in objs:
            for mime, data in bundle(obj):
                add(mime, data)

    builtins.display = display

    def show_figures(plt):
        for num in plt.get_fignums():
            display(plt.figure(num))
        plt.close("all")

    def patch_pyplot(plt):
        plt.show = lambda *args, **kwargs: show_figures(plt)

    class PlotHook:
        """Patches matplotlib.pyplot.show once pyplot is imported."""

        def find_spec(self, name, path=None, target=None):
            if name != "matplotlib.pyplot":
                return None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None and spec.loader is not None:
                    break
            else:
                return None
            exec_module = spec.loader.exec_module

            def exec_and_patch(module):
                exec_module(module)
                patch_pyplot(module)

            spec.loader.exec_module = exec_and_patch
            return spec

    sys.meta_path.insert(0, PlotHook())

    def describe(e):
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
            tb = tb.tb_next
        text = "".join(traceback.format_exception(type(e), e, tb))
        try:
            message = str(e)
        except BaseException:
            message = "<unprintable>"
        # Bounded: the record must stay far below the supervisor's limit.
        return {"name": type(e).__name__, "message": message[:8192], "traceback": text[-65536:]}

    AWAIT = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    CO_COROUTINE = 0x80

    def run_code(code):
        # Top-level `await` (as in IPython): such code evaluates to a coroutine, run to its end.
        if code.co_flags & CO_COROUTINE:
            import asyncio

            return asyncio.run(eval(code, ns))
        return eval(code, ns)

    def run(code, n):
        name = f"<cell-{n}>"
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)
        tree = ast.parse(code, name, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        run_code(compile(tree, name, "exec", flags=AWAIT))
        if last is not None:
            value = run_code(compile(last, name, "eval", flags=AWAIT))
            if value is not None:
                builtins._ = value
                display(value)
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None and plt.get_fignums():
            show_figures(plt)  # like an inline backend: open figures are shown at the end

    def one_cell(cell, n):
        state.update(results=[], size=0, truncated=False, max=cell["max_results"])
        error = None
        # A SIGINT that came after the last cell ended is dropped (SIG_IGN discards it).
        _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, {_signal.SIGINT})
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)
        try:
            try:
                run(cell["code"], n)
            finally:
                _signal.pthread_sigmask(_signal.SIG_BLOCK, {_signal.SIGINT})
        except SystemExit as e:
            end(e)
        except BaseException as e:
            error = describe(e)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        return {"results": state["results"], "results_truncated": state["truncated"], "error": error}

    def end(e):
        code = _pyth_on_exit_code(e)
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        posix._exit(code & 0xFF)

    FILE_ERRORS = {2: "not_found", 21: "wrong_kind", 20: "wrong_kind", 28: "no_space", 122: "no_space", 27: "too_large"}
    MAX_LIST = 1000  # session/file.rs MAX_LIST_ENTRIES

    def file_failure(kind, message):
        return {"error": {"kind": kind, "message": message[:4096]}}

    def write_file(req):
        import os

        path = "/work/" + req["path"]
        os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
        data = base64.b64decode(req["content"])
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.unlink(path)  # no half-written file stays behind
            raise
        finally:
            os.close(fd)
        return {"size": len(data)}

    def read_file(req):
        import os
        import stat

        limit = req["max_bytes"]
        fd = os.open("/work/" + req["path"], os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return file_failure("wrong_kind", "not a regular file")
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if size > limit:
                return file_failure("too_large", f"the file is larger than {limit} bytes")
            return {"content": base64.b64encode(b"".join(chunks)).decode(), "size": size}
        finally:
            os.close(fd)

    def list_dir(req):
        import os

        prefix = req["dir"] + "/" if req["dir"] else ""
        entries = []
        with os.scandir("/work/" + req["dir"]) as it:
            for entry in it:
                try:
                    entry.name.encode()
                except UnicodeEncodeError:
                    continue  # a name that is not UTF-8 cannot be named over the API
                entries.append(entry)
        entries.sort(key=lambda e: e.name)
        out = []
        for entry in entries[:MAX_LIST]:
            if entry.is_dir(follow_symlinks=False):
                kind, size = "directory", 0
            elif entry.is_file(follow_symlinks=False):
                kind, size = "file", entry.stat(follow_symlinks=False).st_size
            else:
                kind, size = "other", 0
            out.append({"path": prefix + entry.name, "kind": kind, "size": size})
        return {"entries": out, "truncated": len(entries) > MAX_LIST}

    def delete_path(req):
        import os
        import shutil
        import stat

        path = "/work/" + req["path"]
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return {}

    FILE_OPS = {"write": write_file, "read": read_file, "list": list_dir, "delete": delete_path}

    def file_op(req):
        try:
            return FILE_OPS[req["op"]](req)
        except OSError as e:
            return file_failure(FILE_ERRORS.get(e.errno, "failed"), e.strerror or str(e))
        except BaseException as e:
            return file_failure("failed", f"{type(e).__name__}: {e}")

    _signal.pthread_sigmask(_signal.SIG_BLOCK, {_signal.SIGINT})
    posix.close(6)
    # Last: EOF on the error pipe tells the supervisor the kernel runs.
    posix.close(5)
    n = 0
    while True:
        cell = read_frame()
        if "op" in cell:
            write_frame(file_op(cell))
            del cell
            continue
        n += 1
        try:
            record = one_cell(cell, n)
        except KeyboardInterrupt:
            error = {"name": "KeyboardInterrupt", "message": "", "traceback": "KeyboardInterrupt\n"}
            record = {"results": state["results"], "results_truncated": state["truncated"], "error": error}
        del cell
        write_frame(record)


_pyth_on_kernel()
