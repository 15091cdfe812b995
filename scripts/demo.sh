#!/usr/bin/env bash
# The main job: install nbdurable in .venv and run the crash-and-resume demo.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[lab]"
exec .venv/bin/python examples/quickstart_demo.py
