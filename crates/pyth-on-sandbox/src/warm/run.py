# Pyth-On Python entry (see warm.rs), shared by cold runs (`-c` with cold.py) and pre-started
# ones (`-c` with boot.py). The interpreter runs with `-S` (no `site`: it and the `.pth` hooks
# it runs cost ~12 ms at start and more at exit), so this restores what `site` gives a program
# (`exit`, `quit`, `help`), runs the program as a fresh `__main__` like `python3 main.py`, and
# ends the way CPython's own shutdown begins (wait for non-daemon threads, run `atexit`
# handlers, flush stdout and stderr) but then exits at once instead of tearing the interpreter
# down module by module: the sandbox is destroyed right after, so that work is pure latency.
def _pyth_on_prepare():
    # Everything that holds nothing of the job: restore what `site` would have given, and
    # compile once (the first compile() of an interpreter sets the parser up: ~2 ms here,
    # which a pre-started interpreter should not spend after the job arrived).
    import builtins

    import _sitebuiltins

    builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")
    builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")
    builtins.help = _sitebuiltins._Helper()
    compile("def f(a, *b, **c):\n    return [x for x in a] if b else f'{a!r}'\n", "<warm-up>", "exec")


def _pyth_on_run(source, argv, notice=None):
    import builtins
    import posix
    import sys

    import _frozen_importlib_external

    MAIN = "/code/main.py"
    sys.argv[:] = [MAIN, *argv]
    sys.path[0] = "/code"
    main = type(sys)("__main__")
    main.__file__ = MAIN
    main.__cached__ = None
    main.__loader__ = _frozen_importlib_external.SourceFileLoader("__main__", MAIN)
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    del argv
    code = 0
    try:
        exec(compile(source, MAIN, "exec", dont_inherit=True), main.__dict__)
    except SystemExit as e:
        code = _pyth_on_exit_code(e)
    except BaseException as e:
        # What `python3 main.py` prints: the traceback without this entry's frame (a
        # SyntaxError from compile() above then has no frames at all, as it would there).
        tb = e.__traceback__.tb_next
        try:
            sys.excepthook(type(e), e.with_traceback(tb), tb)
        except BaseException:
            pass
        code = 130 if isinstance(e, KeyboardInterrupt) else 1
    del source, main
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            threading._shutdown()
        except SystemExit as e:
            code = _pyth_on_exit_code(e)
        except BaseException:
            pass
    # Exit handlers exist only if something imported atexit (the program, weakref.finalize,
    # logging...); importing it here only to find none cost a forked run 165 µs and 56
    # copied pages.
    atexit = sys.modules.get("atexit")
    if atexit is not None:
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except BaseException:
            code = 120
    if notice is not None:
        _pyth_on_notice(notice, code & 0xFF)
    posix._exit(code & 0xFF)


def _pyth_on_notice(notice, code):
    # A forked run (fork server) tells the sandbox's init that its program is over before it
    # exits: the exit (the kernel freeing this copy of the fork server's memory) takes longer
    # than a small program. Only from the payload itself (a child the program forked that
    # ends here too says nothing), and only while fd `notice[0]` is still the notice pipe (the
    # program may have closed it and reused the number). stdin, stdout and stderr are closed
    # first: their EOF ends the output. Init takes the code from it and nothing else
    # (child/forked.rs).
    import posix

    fd, ident, payload = notice
    try:
        if posix.getpid() != payload:
            return
        st = posix.fstat(fd)
        if (st.st_dev, st.st_ino) != ident:
            return
        for std in (0, 1, 2):
            try:
                posix.close(std)
            except OSError:
                pass
        # SCHED_IDLE before the notice: init, woken by it (often onto this CPU), runs at once
        # instead of waiting behind this process's exit, a millisecond in the kernel that
        # nothing preempts (docs/PERFORMANCE.md, session 22). Init then puts this process at
        # nice 19 for that exit once it ended the run, or back to 0 if it waits for the exit
        # instead (child.rs, forked_init).
        try:
            posix.sched_setscheduler(0, posix.SCHED_IDLE, posix.sched_param(0))
        except OSError:
            try:
                posix.setpriority(posix.PRIO_PROCESS, 0, 19)
            except OSError:
                pass
        posix.write(fd, b"code %d\n" % code)
    except OSError:
        pass


def _pyth_on_exit_code(e):
    # CPython's handling of SystemExit: None is 0, an int is itself, anything else is
    # printed to stderr and is 1.
    import sys

    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    try:
        print(e.code, file=sys.stderr)
    except BaseException:
        pass
    return 1
