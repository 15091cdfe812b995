"""Fault injection: real processes, real files, real faults (see each test module's docstring).

The helpers here are for journals edited with sqlite3 and read by fresh processes
(``test_untrusted_journal.py``, ``test_values.py``); the process engine's journal
comes from ``tests/conftest.py`` (``journal_path``).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest


def tamper(journal: Path, sql: str, params: Sequence[Any] = ()) -> None:
    """Edit a journal as anyone with the file can: sqlite3 directly, no nbdurable involved."""
    conn = sqlite3.connect(journal)
    try:
        with conn:
            changed = conn.execute(sql, params).rowcount
        assert changed != 0, f"tampering changed nothing: {sql}"
    finally:
        conn.close()


def run_python(
    script: Path, *args: str, cwd: Path, timeout: float = 120.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a script in a fresh interpreter (nothing shared with the test process but the files)."""
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(cwd), **(env or {})},
        check=False,
    )


def run_cli(journal: Path, *args: str, cwd: Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``python -m nbdurable --journal JOURNAL ARGS`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "nbdurable", "--journal", str(journal), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """A file that exists only if code chosen by a journal ran."""
    return tmp_path / "PWNED"
