#!/usr/bin/env bash
# The screenshots in docs/images: the browser tests take them (JupyterLab and Notebook 7 in headless
# Chromium) into this folder instead of a temporary one. Tests never write tracked files; run this
# by hand when the timeline or the sidebar looks different, and commit the images it rewrites.
set -euo pipefail
cd "$(dirname "$0")/.."
NBDURABLE_SCREENSHOT_DIR="$PWD/docs/images" .venv/bin/python -m pytest -m browser -q "$@"
git status --short docs/images
