#!/usr/bin/env bash
# Creates clients/python/.venv if missing, installs pyth_on_zk with its test extras, runs pytest.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  if /usr/bin/python3 -m venv .venv 2>/dev/null; then :; else
    rm -rf .venv
    python3 -m venv .venv
  fi
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec .venv/bin/python -m pytest -q "$@"
