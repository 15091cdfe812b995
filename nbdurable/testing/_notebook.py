"""Run a notebook, kill its kernel part-way through a durable cell, and run it again.

This is the crash-and-resume check a user wants for their own notebooks (and
what nbdurable's demo and tests do with its example notebooks): a real kernel is
killed with SIGKILL once the journal shows enough completed steps, a new kernel
runs the whole notebook again, and the report says which steps replayed from the
journal and which ran.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ._kernel import CellResult, Kernel

__all__ = ["NotebookCrashReport", "run_notebook_with_crash"]


@dataclasses.dataclass
class NotebookCrashReport:
    """What happened: outputs of both kernels and, per step of the run, whether it replayed."""

    run_id: str
    steps_before_kill: int
    first: list[CellResult]
    second: list[CellResult]
    steps: list[dict[str, Any]]
    status: str

    @property
    def replayed(self) -> list[str]:
        return [s["step_id"] for s in self.steps if s["replayed"]]

    @property
    def ran(self) -> list[str]:
        return [s["step_id"] for s in self.steps if not s["replayed"]]


def _code_cells(path: Path) -> list[str]:
    notebook = json.loads(path.read_text())
    cells = []
    for cell in notebook["cells"]:
        if cell.get("cell_type") == "code":
            source = cell["source"]
            cells.append("".join(source) if isinstance(source, list) else source)
    return cells


def _completed(journal_path: Path, run_id: str) -> int:
    from ..journal._sqlite import SQLiteJournal

    if not journal_path.exists():
        return 0
    journal = SQLiteJournal(journal_path)
    try:
        return journal.step_counts([run_id]).get(run_id, 0)
    finally:
        journal.close()


def run_notebook_with_crash(
    notebook: str | os.PathLike[str],
    *,
    workdir: str | os.PathLike[str],
    run_id: str,
    kill_after_steps: int,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> NotebookCrashReport:
    """Copy ``notebook`` into ``workdir``, run it, SIGKILL the kernel after ``kill_after_steps``
    steps of ``run_id`` completed, then run the whole notebook again in a new kernel.

    Raises AssertionError with the cell's output if a cell fails in the second
    kernel (the first kernel is expected to die in the durable cell).
    """
    src = Path(notebook)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    copy = work / src.name
    if copy.resolve() != src.resolve():
        shutil.copy(src, copy)
    journal_path = work / ".nbdurable" / "journal.db"
    cells = _code_cells(copy)
    first: list[CellResult] = []
    kernel = Kernel(work, env=env)
    killed = False
    try:
        for source in cells:
            if source.lstrip().startswith("%%durable") and not killed:
                msg_id = kernel.kc.execute(source)
                partial = CellResult()
                deadline = time.monotonic() + timeout
                while _completed(journal_path, run_id) < kill_after_steps:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"run {run_id!r} never reached {kill_after_steps} completed steps")
                    kernel.drain(msg_id, partial, seconds=0.02)
                before = _completed(journal_path, run_id)
                kernel.kill()
                killed = True
                first.append(partial)
                break
            first.append(kernel.run(source, timeout=timeout))
    finally:
        if not killed:
            kernel.close()
    if not killed:
        raise AssertionError(f"{src} has no %%durable cell to kill the kernel in")
    second: list[CellResult] = []
    kernel = Kernel(work, env=env)
    try:
        for source in cells:
            second.append(kernel.run(source, timeout=timeout))
        probe = kernel.run(
            "import json as _json, nbdurable as _nd\n"
            f"_h = _nd.get_run({run_id!r})\n"
            "print(_json.dumps({'status': _h.status, 'steps': [{'step_id': s.step_id, 'kind': s.kind, "
            "'replayed': s.replayed, 'status': s.status} for s in _h.steps()]}))"
        )
    finally:
        kernel.close()
    info = json.loads(probe.stdout.strip().splitlines()[-1])
    return NotebookCrashReport(run_id, before, first, second, info["steps"], info["status"])
