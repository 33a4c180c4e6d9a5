#!/usr/bin/env bash
# Install everything the tests need into .venv (and Debian's chromium for the report test), then run them.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "tests/run.sh: chromium could not be installed; the browser test will say why it skipped" >&2
fi
.venv/bin/ruff check .          # house style: ruff clean and mypy --strict on harness/ (pyproject.toml)
.venv/bin/mypy
# Two workers, a test file each (its module fixtures stay together): one file at a time left a core idle most
# of the run (one client or one backend busy at a time); each worker starts its own embedded server.
exec .venv/bin/python -m pytest -m "not slow" -n 2 --dist loadfile "$@"
