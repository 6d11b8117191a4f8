#!/usr/bin/env bash
# Creates clients/python/.venv if missing (Debian's python3 refuses `pip install` outside a
# venv), installs the distribution with its pinned test tools, checks the sources with
# `ruff check` and `mypy --strict`, then runs pytest against a real server (tests/conftest.py:
# $PYTH_ON_BIN, else <repo>/target/debug/pyth-on).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  if /usr/bin/python3 -m venv .venv 2>/dev/null; then :; else
    rm -rf .venv
    python3 -m venv .venv
  fi
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
.venv/bin/python scripts/unasync.py --check
.venv/bin/ruff check src/
.venv/bin/mypy --strict src/
exec .venv/bin/python -m pytest -q "$@"
