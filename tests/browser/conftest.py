"""A real JupyterLab (token auth on) and Debian's Chromium driven by Playwright, for the browser tests.

The server runs from this checkout: the kernel imports nbdurable from the repository
(PYTHONPATH), and JupyterLab loads the timeline extension from the built
nbdurable/labextension through an extra labextensions path, so the tests see the
code under test even when an older nbdurable is installed. Configuration, runtime,
data and settings directories are temporary, so nothing leaks between runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BUILT_EXTENSION = REPO / "nbdurable" / "labextension"
BUILT_WIDGET = REPO / "nbdurable" / "static" / "widget.js"
# Notebook 7 is in the test extra; its pages are served by the same server when it is installed.
HAS_NOTEBOOK7 = importlib.util.find_spec("notebook") is not None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Lab:
    """A running JupyterLab: its address, token, notebook folder and REST API."""

    base_url: str
    token: str
    root: Path
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={self.token}"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def write_notebook(self, name: str, cells: list[str]) -> None:
        notebook = {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
                "language_info": {"name": "python"},
            },
            "cells": [
                {
                    "cell_type": "code",
                    "id": f"cell-{i}",
                    "metadata": {},
                    "source": src,
                    "outputs": [],
                    "execution_count": None,
                }
                for i, src in enumerate(cells)
            ],
        }
        self.api("PUT", f"/api/contents/{name}", {"type": "notebook", "format": "json", "content": notebook})

    def read_notebook(self, name: str) -> dict[str, Any]:
        model = self.api("GET", f"/api/contents/{name}?content=1")
        content: dict[str, Any] = model["content"]
        return content

    def shut_down_kernels(self) -> list[str]:
        """Shut down every session and kernel, as "Shut Down All Kernels" does; return the kernel ids."""
        ids = []
        for session in self.api("GET", "/api/sessions"):
            ids.append(session["kernel"]["id"])
            self.api("DELETE", f"/api/sessions/{session['id']}")
        for kernel in self.api("GET", "/api/kernels"):
            ids.append(kernel["id"])
            self.api("DELETE", f"/api/kernels/{kernel['id']}")
        return ids

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _check_built() -> None:
    missing = [str(p) for p in (BUILT_EXTENSION / "package.json", BUILT_WIDGET) if not p.exists()]
    if missing:
        raise RuntimeError(
            f"The timeline front end is not built ({', '.join(missing)} missing): "
            "run `npm ci && npm run build` in labextension/ before the browser tests."
        )
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium chromium-driver`.")


def start_lab(base: Path, *, nbdurable: dict[str, Any] | None = None) -> Lab:
    """Start JupyterLab in ``base`` (notebooks in ``base/notebooks``), with ``nbdurable`` as c.NbDurable if given.

    With Notebook 7 installed the same server serves its pages too (``/notebooks/...``).
    """
    _check_built()
    root = base / "notebooks"
    extensions = base / "labextensions"
    config = base / "config"
    for folder in (root, extensions, config / "labconfig", base / "settings", base / "workspaces"):
        folder.mkdir(parents=True)
    # JupyterLab finds an extension as <labextensions path>/<name>/package.json.
    (extensions / "nbdurable").symlink_to(BUILT_EXTENSION, target_is_directory=True)
    # No news and update popups over the notebook.
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    if nbdurable is not None:
        (config / "jupyter_server_config.json").write_text(json.dumps({"NbDurable": nbdurable}))
    port = _free_port()
    token = secrets.token_hex(24)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "IPYTHONDIR": str(base / "ipython"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    log = base / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={base / 'settings'}",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
        f"--LabApp.extra_labextensions_path={extensions}",
    ]
    if HAS_NOTEBOOK7:
        # Notebook 7 reads its own settings: it too must load the extension built from this checkout.
        command += [
            "--JupyterNotebookApp.expose_app_in_browser=True",
            f"--JupyterNotebookApp.extra_labextensions_path={extensions}",
        ]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=root, stdout=sink, stderr=subprocess.STDOUT)
    server = Lab(f"http://127.0.0.1:{port}", token, root, log, process)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n{server.log_tail()}")
            try:
                server.api("GET", "/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer in 90 s:\n{server.log_tail()}") from None
                time.sleep(0.3)
    except BaseException:
        stop_lab(server)
        raise
    return server


def stop_lab(server: Lab) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    server = start_lab(tmp_path_factory.mktemp("jupyterlab"))
    try:
        yield server
    finally:
        stop_lab(server)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    _check_built()
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


@dataclass
class PageErrors:
    """JavaScript errors seen on a page; a test asserts there were none it did not expect."""

    errors: list[str] = field(default_factory=list)

    def relevant(self) -> list[str]:
        return [e for e in self.errors if "nbd" in e.lower() or "nbdurable" in e.lower()]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    errors = PageErrors()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.errors.append(message.text)

    tab.on("console", on_console)
    tab.on("pageerror", lambda exc: errors.errors.append(f"pageerror: {exc}"))
    tab.nbd_errors = errors  # type: ignore[attr-defined]
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: a temporary folder, so tests never rewrite tracked files; the folder in
    ``$NBDURABLE_SCREENSHOT_DIR`` when set (``scripts/docs-images.sh`` sets it to docs/images for the docs)."""
    chosen = os.environ.get("NBDURABLE_SCREENSHOT_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
