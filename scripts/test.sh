#!/usr/bin/env bash
# The tests: set up everything on a fresh machine, then lint, type-check and run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
echo "== ruff"
.venv/bin/ruff check nbdurable tests bench examples
.venv/bin/ruff format --check nbdurable tests bench examples
echo "== mypy (strict)"
.venv/bin/mypy
echo "== unit tests"
.venv/bin/python -m pytest -m "not kernel and not crash and not browser" -q
echo "== crash and real-kernel tests"
.venv/bin/python -m pytest -m "kernel or crash" -q
