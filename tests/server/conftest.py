"""Fixtures for the Jupyter server extension's tests: journals with runs written directly, under a root folder."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import nbdurable as nd
from nbdurable.journal._protocol import Write


def add_runs(path: Path, *runs: nd.RunRecord, steps: dict[str, list[nd.StepRecord]] | None = None) -> None:
    """Write ``runs`` (and their steps) into the journal at ``path`` as an executing process would."""
    journal = nd.SQLiteJournal(path)
    try:
        journal.write([Write("run", run=r) for r in runs])
        for run_steps in (steps or {}).values():
            journal.write([Write("step", step=s) for s in run_steps])
    finally:
        journal.close()


def record(run_id: str, function_id: str = "fn", *, created: float | None = None, **fields: object) -> nd.RunRecord:
    now = time.time() if created is None else created
    return nd.RunRecord(run_id, function_id, created_at=now, updated_at=now, **fields)  # type: ignore[arg-type]


def step(run_id: str, step_id: str, position: int, **fields: object) -> nd.StepRecord:
    return nd.StepRecord(run_id=run_id, step_id=step_id, name=step_id, position=position, **fields)  # type: ignore[arg-type]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The server's root folder."""
    folder = tmp_path / "root"
    folder.mkdir()
    return folder
