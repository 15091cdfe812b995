#!/usr/bin/env bash
# The tests: set up everything on a fresh machine, then lint, type-check and run the whole suite on
# the default python3, and the fast unit suite on every other supported Python found here.
# Needs: Python 3.10+ with venv, Node.js with npm (for the timeline's TypeScript), root or sudo for apt
# (Debian's Chromium for the browser tests, Debian's PostgreSQL for the PostgreSQL journal's tests). Other
# Pythons (python3.10, python3.12...) are optional: each one missing is reported, never skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
# Each section says when it started, so the time each one takes can be read off the log.
section() { echo "== $* (at $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s)"; }

if ! command -v chromium >/dev/null 2>&1; then
    echo "== installing Debian's Chromium for the browser tests"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    # The PostgreSQL tests start a private server (initdb in a temp folder, a loopback port): never a system one.
    echo "== installing Debian's PostgreSQL for the PostgreSQL journal's tests"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
echo "== installing nbdurable with the test extras (builds the JupyterLab extension with npm)"
.venv/bin/python -m pip install --quiet -e ".[test]"

section "ruff"
.venv/bin/ruff check nbdurable tests bench examples
.venv/bin/ruff format --check nbdurable tests bench examples
section "mypy (strict)"
.venv/bin/mypy
section "import-linter (the layers and the import arrows: pyproject.toml [tool.importlinter])"
.venv/bin/lint-imports
section "timeline renderer (TypeScript unit tests)"
(cd labextension && npm ci --no-audit --no-fund --loglevel=error && npm run typecheck && npm test)
section "unit tests (one worker per core, at most 4: they are CPU-bound and independent)"
.venv/bin/python -m pytest -n auto --maxprocesses 4 -m "not kernel and not crash and not browser and not server and not package and not postgres"
section "unit tests on the other supported Pythons"
bash scripts/test-pythons.sh
section "real kernels, crashes (real processes killed with SIGKILL), a real Jupyter server, a private PostgreSQL; the sdist and wheel installed without Node"
# Two workers: these tests mostly wait (kernels starting, processes killed and resumed, servers answering), using
# under half a core alone. --dist loadfile keeps each file on one worker, so a module's costly fixtures (the package
# build, a notebook server) are made once.
.venv/bin/python -m pytest -n 2 --dist loadfile -m "(kernel or crash or server or package or postgres) and not browser"
section "JupyterLab in headless Chromium"
# A session of its own: Playwright's sync API keeps an event loop running in the main thread.
.venv/bin/python -m pytest -m browser
echo "== all tests passed in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
