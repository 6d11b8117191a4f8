

# Cold runs: the program is already at /code/main.py (written by the runner, or decrypted
# there by the ZK stage before this interpreter existed).
_pyth_on_prepare()
with open("/code/main.py", "rb") as _f:
    _src = _f.read()
del _f
_pyth_on_run(_src, __import__("sys").argv[1:])
