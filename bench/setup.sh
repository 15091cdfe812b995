#!/usr/bin/env bash
# Create bench/.venv, the benchmark's own environment: nbdurable from this checkout plus the peers
# (DBOS, LangGraph) it is compared with. They are never installed in the project's main .venv.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-python3}"
if [ ! -x "$here/.venv/bin/python" ]; then
    "$python" -m venv "$here/.venv"
fi
"$here/.venv/bin/python" -m pip install --quiet --upgrade pip
"$here/.venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
"$here/.venv/bin/python" -m pip install --quiet -e "$root[notebook,postgres,pydantic-ai,openai-agents,langgraph]"
"$here/.venv/bin/python" -m pip list --format=freeze > "$here/.venv/installed.txt"
