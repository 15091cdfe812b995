#!/usr/bin/env bash
# The fast unit suite on every supported Python other than the default one (.venv's).
# The supported versions are read from pyproject.toml's classifiers; each interpreter is looked
# up as pythonX.Y on the PATH at run time. One missing is reported with a notice (never skipped
# silently); a test failing on any of them fails the run. Each gets its own venv, .venv-X.Y,
# reinstalled only when pyproject.toml or labextension/package.json changed.
set -euo pipefail
cd "$(dirname "$0")/.."

default=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
versions=$(grep -oE '"Programming Language :: Python :: 3\.[0-9]+"' pyproject.toml | grep -oE '3\.[0-9]+' | sort -t. -k2 -n)
stamp=$(cat pyproject.toml labextension/package.json | sha256sum | cut -c1-16)
missing=()
tested=("$default (default: the whole suite)")
for v in $versions; do
    [ "$v" = "$default" ] && continue
    if ! command -v "python$v" >/dev/null 2>&1 || ! "python$v" -c 'import venv' >/dev/null 2>&1; then
        echo "== NOTICE: python$v is not on this machine: the unit suite did NOT run on Python $v"
        missing+=("$v")
        continue
    fi
    venv=".venv-$v"
    echo "== unit tests on Python $v ($(command -v "python$v"), venv $venv)"
    if [ ! -x "$venv/bin/python" ]; then
        "python$v" -m venv "$venv"
    fi
    if [ "$(cat "$venv/.nbdurable-stamp" 2>/dev/null)" != "$stamp" ]; then
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        "$venv/bin/python" -m pip install --quiet -e ".[test-unit]"
        echo "$stamp" >"$venv/.nbdurable-stamp"
    fi
    # tests/browser needs Playwright, which these venvs do not install; its tests are all browser tests.
    "$venv/bin/python" -m pytest -q -m "not kernel and not crash and not browser and not server and not package" \
        --ignore=tests/browser
    tested+=("$v")
done
echo "== Pythons tested: ${tested[*]}"
if [ ${#missing[@]} -gt 0 ]; then
    echo "== NOTICE: not tested here (interpreter missing): ${missing[*]}"
fi
