#!/usr/bin/env bash
# The fast unit suite on every supported Python other than the default one (.venv's).
# The supported versions are read from pyproject.toml's classifiers; each interpreter is looked
# up at run time: pythonX.Y on the PATH if it runs, else an installed pyenv version X.Y.* (pyenv's
# shims answer only for the versions selected with `pyenv global`). One missing is reported with a
# notice (never skipped silently); a test failing on any of them fails the run. Each gets its own
# venv, .venv-X.Y, reinstalled only when pyproject.toml or labextension/package.json changed.
set -euo pipefail
cd "$(dirname "$0")/.."

default=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
versions=$(grep -oE '"Programming Language :: Python :: 3\.[0-9]+"' pyproject.toml | grep -oE '3\.[0-9]+' | sort -t. -k2 -n)
stamp=$(cat pyproject.toml labextension/package.json | sha256sum | cut -c1-16)
# The path of a working Python X.Y, or nothing.
find_python() {
    local v=$1 candidate
    if command -v "python$v" >/dev/null 2>&1 && "python$v" -c 'import venv' >/dev/null 2>&1; then
        "python$v" -c 'import sys; print(sys.executable)'
        return
    fi
    if command -v pyenv >/dev/null 2>&1; then
        for candidate in $(ls -d "$(pyenv root)/versions/$v".*/bin/"python$v" 2>/dev/null | sort -t. -k3 -n -r); do
            if "$candidate" -c 'import venv' >/dev/null 2>&1; then
                echo "$candidate"
                return
            fi
        done
    fi
}

missing=()
tested=("$default (default: the whole suite)")
for v in $versions; do
    [ "$v" = "$default" ] && continue
    python=$(find_python "$v")
    if [ -z "$python" ]; then
        echo "== NOTICE: no Python $v on this machine (python$v on the PATH, or pyenv): the unit suite did NOT run on it"
        missing+=("$v")
        continue
    fi
    venv=".venv-$v"
    echo "== unit tests on Python $v ($python, venv $venv)"
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv"
    fi
    if [ "$(cat "$venv/.nbdurable-stamp" 2>/dev/null)" != "$stamp" ]; then
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        # --no-compile: the tests compile only the modules they import; compiling every installed file costs CPU.
        "$venv/bin/python" -m pip install --quiet --no-compile -e ".[test-unit]"
        echo "$stamp" >"$venv/.nbdurable-stamp"
    fi
    # tests/browser needs Playwright, which these venvs do not install; its tests are all browser tests.
    "$venv/bin/python" -m pytest -q -n auto --maxprocesses 4 -m "not kernel and not crash and not browser and not server and not package and not postgres" \
        --ignore=tests/browser
    tested+=("$v")
done
echo "== Pythons tested: ${tested[*]}"
if [ ${#missing[@]} -gt 0 ]; then
    echo "== NOTICE: not tested here (interpreter missing): ${missing[*]}"
fi
