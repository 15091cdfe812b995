"""The sdist and wheel, built from a clean checkout and installed as a user would, with no Node.

``git archive HEAD`` gives the checkout (so untracked build output in this folder cannot
leak in); ``python -m build`` makes the sdist and, from it, the wheel. The wheel goes into
a fresh venv whose PATH has no node or npm, with JupyterLab next to it; then
``jupyter labextension list`` must show nbdurable enabled, a real kernel of that venv must
``%load_ext nbdurable`` and show a ``%%durable`` cell's timeline bundle. The same venv then
installs nbdurable from the sdist (pip builds it without Node: the sdist carries the built
labextension and widget) and is checked again. ``jupyter server extension list`` is checked
as soon as the wheel declares a server extension (a ``jupyter_server_config.d`` file).

Runs with the slow tier (``-m "kernel or crash or package"``); uses pip's cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.package, pytest.mark.kernel]

REPO = Path(__file__).resolve().parent.parent
MIME = "application/vnd.nbdurable.timeline+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SERVER_CONFIG_D = "etc/jupyter/jupyter_server_config.d/"

# Run inside the fresh venv's kernel: the installed package's own test kernel, from a folder outside the checkout.
KERNEL_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from nbdurable.testing import Kernel

    k = Kernel(Path(sys.argv[1]))
    try:
        loaded = k.execute("%load_ext nbdurable\\nimport nbdurable, sys\\nprint(nbdurable.__file__, sys.executable)")
        cell = k.execute(
            '%%durable packaged\\nx = await step.run("one", lambda: 41)\\ny = await step.run("two", lambda: x + 1)'
        )
        after = k.execute("print(y)")
        print(json.dumps({
            "loaded": {"stdout": loaded.stdout, "error": loaded.error},
            "cell": {"stdout": cell.stdout, "error": cell.error, "outputs": cell.outputs},
            "after": after.stdout,
        }))
    finally:
        k.close()
    """
)


@dataclass
class Built:
    sdist: Path
    wheel: Path
    version: str  # labextension/package.json's, e.g. 0.2.0-dev0


def _plain(text: str) -> str:
    """Without the colour codes jupyter's listings carry."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
    stdout: bool = False,
) -> str:
    """Run ``cmd``; its output (stdout and stderr, or stdout alone), or an error with both when it fails."""
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        output = f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}):\n{output}")
    return done.stdout if stdout else done.stdout + done.stderr


def _path_without_node() -> str:
    """This PATH minus every folder holding node or npm."""
    keep = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    keep = [d for d in keep if not any((Path(d) / exe).exists() for exe in ("node", "npm", "nodejs"))]
    return os.pathsep.join(keep)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("package")
    src = root / "checkout"
    src.mkdir()
    archive = root / "head.tar"
    _run(["git", "-C", str(REPO), "archive", "--format=tar", f"--output={archive}", "HEAD"])
    with tarfile.open(archive) as tar:
        tar.extractall(src, filter="data")
    assert not (src / "nbdurable" / "labextension").exists(), "the labextension build must not be tracked"
    assert not (src / "nbdurable" / "static" / "widget.js").exists(), "the widget bundle must not be tracked"
    dist = root / "dist"
    # The sdist first, then the wheel built from it (build's default), so the wheel proves the sdist is whole.
    # Built with this venv's build requirements (the test extra has them) to save two environments; installing
    # the sdist below builds it in an isolated environment, as pip does for users.
    # The build calls `jupyter labextension build`: this venv's scripts come first on the PATH.
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(src)], env=env, timeout=900)
    [sdist] = dist.glob("nbdurable-*.tar.gz")
    [wheel] = dist.glob("nbdurable-*.whl")
    version = json.loads((src / "labextension" / "package.json").read_text())["version"]
    return Built(sdist=sdist, wheel=wheel, version=version)


@pytest.fixture(scope="module")
def venv(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and JupyterLab; no node or npm on its PATH."""
    where = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", str(where)])
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile"]
    _run([*pip, str(built.wheel), "jupyterlab>=4.2,<5"])
    return where


def _env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "JUPYTER", "VIRTUAL_ENV", "NBDURABLE"))}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), _path_without_node()])
    env["VIRTUAL_ENV"] = str(venv)
    assert shutil.which("node", path=env["PATH"]) is None and shutil.which("npm", path=env["PATH"]) is None
    return env


def _check_installed(venv: Path, built: Built, tmp_path: Path) -> None:
    env = _env(venv)
    python = str(venv / "bin" / "python")
    listed = _plain(_run([str(venv / "bin" / "jupyter"), "labextension", "list"], env=env, cwd=tmp_path))
    assert re.search(rf"nbdurable v{re.escape(built.version)} enabled\s.*OK", listed), listed
    shipped = _run(
        [
            python,
            "-c",
            "import nbdurable, pathlib; p = pathlib.Path(nbdurable.__file__).parent; "
            "print(nbdurable.__version__, (p / 'static' / 'widget.js').is_file(), (p / '_version.py').is_file())",
        ],
        env=env,
        cwd=tmp_path,
    )
    assert shipped.split()[1:] == ["True", "True"], shipped
    if _declares_server_extension(built.wheel):
        servers = _plain(_run([str(venv / "bin" / "jupyter"), "server", "extension", "list"], env=env, cwd=tmp_path))
        installed_version = shipped.split()[0]
        assert re.search(r"^\s*nbdurable enabled$", servers, re.M), servers
        assert re.search(rf"^\s*nbdurable {re.escape(installed_version)} OK$", servers, re.M), servers
    probe = tmp_path / "probe.py"
    probe.write_text(KERNEL_PROBE)
    work = tmp_path / "notebook"
    work.mkdir()
    result = json.loads(_run([python, str(probe), str(work)], env=env, cwd=tmp_path, stdout=True).splitlines()[-1])
    assert result["loaded"]["error"] is None, result["loaded"]
    module_file, executable = result["loaded"]["stdout"].split()
    assert module_file.startswith(str(venv)) and executable.startswith(str(venv)), "the venv's own nbdurable"
    assert result["cell"]["error"] is None, result["cell"]
    assert "nbdurable: started run 'packaged'" in result["cell"]["stdout"]
    bundles = [o["data"] for o in result["cell"]["outputs"] if MIME in o.get("data", {})]
    assert bundles and WIDGET_VIEW in bundles[0], "the default install shows the live widget"
    final = bundles[-1][MIME]
    assert final["run"]["status"] == "completed" and [s["step_id"] for s in final["steps"]] == ["one", "two"]
    assert result["after"].strip() == "42"


def _declares_server_extension(wheel: Path) -> bool:
    with zipfile.ZipFile(wheel) as zf:
        return any(SERVER_CONFIG_D in name and "nbdurable" in name for name in zf.namelist())


def test_the_sdist_carries_the_built_front_end(built: Built) -> None:
    with tarfile.open(built.sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"nbdurable/labextension/package.json", "nbdurable/static/widget.js", "labextension/package.json"} <= names
    assert not any(n.startswith((".venv", "labextension/node_modules/")) for n in names)
    with zipfile.ZipFile(built.wheel) as zf:
        wheel_names = zf.namelist()
    assert "nbdurable/static/widget.js" in wheel_names and "nbdurable/_version.py" in wheel_names
    assert "nbdurable/timeline/palette.json" in wheel_names, "the static renderer reads its colours from it"
    assert any(n.endswith("share/jupyter/labextensions/nbdurable/package.json") for n in wheel_names)


def test_the_wheel_works_in_a_fresh_venv_without_node(built: Built, venv: Path, tmp_path: Path) -> None:
    _check_installed(venv, built, tmp_path)


def test_the_sdist_installs_without_node(built: Built, venv: Path, tmp_path: Path) -> None:
    env = _env(venv)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    _run([*pip, "uninstall", "--yes", "nbdurable"], env=env)
    out = _run([*pip, "install", "--no-deps", str(built.sdist)], env=env, cwd=tmp_path)
    assert "Successfully installed nbdurable" in out, out
    _check_installed(venv, built, tmp_path)
