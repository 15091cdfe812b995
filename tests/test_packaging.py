"""Packaging facts that must stay true: one version, the default install, supported Pythons, the snapshot format.

These read the installed metadata (what pip sees) and the checkout's files; the
build and install themselves are tested in ``test_package_install.py``.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

import nbdurable
from nbdurable.timeline._render import SNAPSHOT_VERSION

REPO = Path(__file__).resolve().parent.parent
LABEXTENSION = REPO / "labextension"
REINSTALL = "the installed metadata is stale: run `pip install -e '.[test]'` again"


def semver_to_pep440(version: str) -> str:
    """The mapping hatch-nodejs-version applies to package.json's version (e.g. 0.2.0-dev0 -> 0.2.0.dev0)."""
    match = re.fullmatch(r"(\d+\.\d+\.\d+)(?:-(a|b|rc|alpha|beta|dev)\.?(\d+))?", version)
    assert match is not None, f"labextension/package.json version {version!r} is not X.Y.Z or X.Y.Z-<pre>N"
    release, label, number = match.groups()
    if label is None:
        return release
    if label == "dev":
        return f"{release}.dev{number}"
    return f"{release}{ {'alpha': 'a', 'beta': 'b'}.get(label, label) }{number}"


def test_one_version_for_the_python_package_and_the_labextension() -> None:
    package_json = json.loads((LABEXTENSION / "package.json").read_text())
    lock = json.loads((LABEXTENSION / "package-lock.json").read_text())
    expected = Version(semver_to_pep440(package_json["version"]))
    assert lock["version"] == lock["packages"][""]["version"] == package_json["version"], "run npm install"
    assert Version(importlib.metadata.version("nbdurable")) == expected, REINSTALL
    assert Version(nbdurable.__version__) == expected, REINSTALL


def test_version_mapping_matches_hatch_nodejs_version() -> None:
    assert semver_to_pep440("0.2.0-dev0") == "0.2.0.dev0"
    assert semver_to_pep440("1.0.0-rc1") == "1.0.0rc1"
    assert semver_to_pep440("1.0.0-alpha.2") == "1.0.0a2"
    assert semver_to_pep440("0.2.0") == "0.2.0"


def test_the_default_install_brings_the_notebook_experience() -> None:
    meta = importlib.metadata.metadata("nbdurable")
    default = {
        Requirement(r).name.lower().replace("_", "-")
        for r in meta.get_all("Requires-Dist") or []
        if "extra ==" not in r
    }
    assert {"anywidget", "ipywidgets", "ipykernel", "ipython", "pydantic"} <= default, REINSTALL
    assert not {"httpx", "jupyterlab", "openai", "anthropic"} & default, "heavy or optional parts stay in extras"
    assert {"ai", "lab", "notebook", "test", "test-unit"} <= set(meta.get_all("Provides-Extra") or []), REINSTALL


def test_every_python_from_3_10_may_install_it() -> None:
    meta = importlib.metadata.metadata("nbdurable")
    assert meta["Requires-Python"] == ">=3.10", "no upper cap: a library must not refuse newer Pythons"
    tested = sorted(
        c.rsplit("::", 1)[1].strip()
        for c in meta.get_all("Classifier") or []
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert tested == ["3.10", "3.11", "3.12", "3.13", "3.14"], REINSTALL


def test_the_snapshot_format_version_is_the_same_in_python_and_typescript() -> None:
    source = (LABEXTENSION / "src" / "snapshot.ts").read_text()
    match = re.search(r"export const SNAPSHOT_VERSION = (\d+);", source)
    assert match is not None, "labextension/src/snapshot.ts must export SNAPSHOT_VERSION"
    assert int(match.group(1)) == SNAPSHOT_VERSION


def test_the_saved_0_1_0_fixture_is_older_or_current() -> None:
    """The renderer's test draws an output saved by 0.1.0; it must stay a format the renderer reads."""
    saved = json.loads((LABEXTENSION / "test" / "data" / "timeline-bundle-0.1.0.json").read_text())
    snapshot = saved["data"]["application/vnd.nbdurable.timeline+json"]
    assert 1 <= snapshot["version"] <= SNAPSHOT_VERSION
    assert {"text/html", "text/plain"} <= set(saved["data"])
