"""A journal never hands a kernel code to run: a cell's source is rebuilt only if this user signed it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nbdurable.testing import Kernel

pytestmark = pytest.mark.kernel

SETUP = """
import pathlib
import nbdurable as nd
def flaky(n):
    # Fails until the test creates ./fixed: the run fails, then resumes.
    if not pathlib.Path("fixed").exists():
        raise RuntimeError("not yet")
    return n * 2
"""

CELL = """%%durable trusted
a = await step.run("double", flaky, 21)
"""

EVIL = 'import pathlib\npathlib.Path("PWNED").write_text("ran code from the journal")\n'


def _failed_cell_run(kernels: list[Kernel], workdir: Path) -> Kernel:
    """A cell run that failed in one kernel; a second kernel (as after a restart) is returned."""
    k1 = Kernel(workdir)
    kernels.append(k1)
    k1.run("%load_ext nbdurable")
    k1.run(SETUP)
    assert k1.execute(CELL).status == "error"
    k1.close()
    k2 = Kernel(workdir)
    kernels.append(k2)
    k2.run("%load_ext nbdurable")
    k2.run(SETUP)
    return k2


def test_a_signed_cell_resumes_from_the_journal_in_a_new_kernel(kernels: list[Kernel], tmp_path: Path) -> None:
    k2 = _failed_cell_run(kernels, tmp_path)
    (tmp_path / "fixed").touch()
    k2.run("%durable resume trusted")
    k2.run("await nd.get_run('trusted').result()")
    assert k2.run("print(a)").stdout.strip() == "42", "the resumed cell's names land in the namespace"


def test_a_source_edited_in_the_journal_is_never_run(kernels: list[Kernel], tmp_path: Path) -> None:
    k2 = _failed_cell_run(kernels, tmp_path)
    assert k2.execute(CELL.replace("trusted", "second")).status == "error", "a second run, failed the same way"
    with sqlite3.connect(tmp_path / ".nbdurable" / "journal.db") as db:
        assert db.execute("UPDATE runs SET source = ? WHERE run_id = 'trusted'", (EVIL,)).rowcount == 1
        second = EVIL.replace("PWNED", "PWNED2")
        assert db.execute("UPDATE runs SET source = ? WHERE run_id = 'second'", (second,)).rowcount == 1
    refused = k2.execute("%durable resume trusted")
    assert refused.status == "error"
    text = refused.stderr + "".join((refused.error or {}).get("traceback", []))
    assert "was not signed by this user's kernel" in text and "--trust-source" in text, text
    assert "Run the cell again" in text
    assert k2.execute("%durable resume --all").status == "ok", "--all says which runs it left and goes on"
    k2.run("import time; time.sleep(0.5)")
    assert not (tmp_path / "PWNED").exists(), "the journal's source ran"
    shown = k2.run("%durable show trusted --source").stdout
    assert "NOT signed" in shown and 'pathlib.Path("PWNED")' in shown
    # Read and trusted on purpose, it runs: the way out is explicit and one run at a time.
    k2.run("%durable resume trusted --trust-source")
    k2.run("await nd.get_run('trusted').result()")
    assert (tmp_path / "PWNED").read_text() == "ran code from the journal"
    # The trust was for that one command: a resume afterwards, from Python, checks signatures again.
    later = k2.execute("nd.get_run('second').resume()")
    assert later.error is not None and later.error["ename"] == "UntrustedSourceError", later.text
    k2.run("import time; time.sleep(0.5)")
    assert not (tmp_path / "PWNED2").exists(), "the trust given to one run outlived its command"


def test_running_the_cell_again_resumes_with_the_notebook_code(kernels: list[Kernel], tmp_path: Path) -> None:
    k2 = _failed_cell_run(kernels, tmp_path)
    with sqlite3.connect(tmp_path / ".nbdurable" / "journal.db") as db:
        db.execute("UPDATE runs SET source = ? WHERE run_id = 'trusted'", (EVIL,))
    (tmp_path / "fixed").touch()
    k2.run(CELL)
    assert k2.run("print(a)").stdout.strip() == "42"
    assert not (tmp_path / "PWNED").exists()
    # Run again, the cell's source and signature in the journal are its own: a later resume trusts it.
    k2.run("%durable rerun trusted --from double")
    k2.run("import asyncio; await asyncio.sleep(0.5)")
    assert k2.run("print(sorted(r.run_id for r in nd.runs()))").stdout.strip() == "['trusted', 'trusted~1']"
    assert k2.run("print(await nd.get_run('trusted~1').result(), a)").stdout.strip() == "None 42"
