"""Helpers for tests that kill real processes and resume their runs."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbdurable as nd
from nbdurable.journal._backends import is_postgres, open_journal

WORKER = Path(__file__).with_name("_crash_worker.py")


class CrashRig:
    """One journal, one side-effect log, one run: start, kill, resume, inspect.

    ``journal`` is what nd.configure takes (an SQLite file under ``tmp`` by default, or a PostgreSQL URL).
    """

    def __init__(
        self, tmp: Path, ops: list[list[Any]], *, run_id: str = "crash-run", journal: str | None = None
    ) -> None:
        self.tmp = tmp
        self.ops = ops
        self.run_id = run_id
        self.journal = journal or str(tmp / "journal.db")
        self.log = tmp / "effects.log"
        self.result_path = tmp / "result.json"
        self.n = 0

    @property
    def on_sqlite(self) -> bool:
        return not is_postgres(self.journal)

    def exists(self) -> bool:
        """Whether the journal exists yet (an SQLite file is created by the first process; a schema is there)."""
        return not self.on_sqlite or Path(self.journal).exists()

    def open(self) -> nd.Journal:
        return open_journal(self.journal)

    def spec(self, kill: dict[str, Any] | None) -> Path:
        self.n += 1
        path = self.tmp / f"spec{self.n}.json"
        path.write_text(
            json.dumps(
                {
                    "journal": str(self.journal),
                    "log": str(self.log),
                    "result": str(self.result_path),
                    "run_id": self.run_id,
                    "ops": self.ops,
                    "kill": kill,
                }
            )
        )
        return path

    def popen(self, kill: dict[str, Any] | None = None) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(WORKER.parent.parent)}
        return subprocess.Popen(
            [sys.executable, str(WORKER), str(self.spec(kill))],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def run(self, kill: dict[str, Any] | None = None, *, answer_waits: bool = True, timeout: float = 60) -> int:
        """Run the worker to its end (or its death); answers waits from this process like a user would."""
        proc = self.popen(kill)
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if answer_waits:
                self.answer_waits()
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"worker did not finish in {timeout}s: {proc.communicate()}")
            time.sleep(0.02)
        _out, err = proc.communicate()
        if proc.returncode not in (0, -signal.SIGKILL):
            raise AssertionError(f"worker failed ({proc.returncode}):\n{err.decode()}")
        return proc.returncode

    def kill_when(self, status: str, timeout: float = 30) -> None:
        """Start the worker and SIGKILL it from outside once the run's journaled status is ``status``."""
        proc = self.popen()
        journal: nd.Journal | None = None
        try:
            deadline = time.monotonic() + timeout
            while True:
                if journal is None and self.exists():
                    journal = self.open()
                rec = journal.get_run(self.run_id) if journal is not None else None
                if rec is not None and rec.status == status:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    return
                if proc.poll() is not None:
                    raise AssertionError(f"worker ended before reaching {status}: {proc.communicate()}")
                if time.monotonic() > deadline:
                    proc.kill()
                    raise AssertionError(f"run never reached {status}")
                time.sleep(0.005)
        finally:
            if journal is not None:
                journal.close()

    def answer_waits(self) -> None:
        """Send the event a waiting step waits for (from another process, as a user would)."""
        if not self.exists():
            return
        journal = self.open()
        try:
            for s in journal.load_steps(self.run_id):
                if s.kind == "wait" and s.status == "waiting" and s.meta:
                    engine = nd.Engine(journal)
                    engine.send_nowait(s.meta["event"], {"answer": 42}, id=f"answer-{s.step_id}")
        finally:
            journal.close()

    def completed_steps(self) -> set[str]:
        """Ids of the steps the journal holds as completed (what must never run again)."""
        if not self.exists():
            return set()
        journal = self.open()
        try:
            return {s.step_id for s in journal.load_steps(self.run_id) if s.status == "completed"}
        finally:
            journal.close()

    def effects(self) -> collections.Counter[str]:
        if not self.log.exists():
            return collections.Counter()
        return collections.Counter(json.loads(line)["step"] for line in self.log.read_text().splitlines())

    def result(self) -> Any:
        return json.loads(self.result_path.read_text())

    def expected_steps(self) -> list[str]:
        names: list[str] = []
        for op in self.ops:
            if op[0] in ("run", "uuid", "big"):
                names.append(op[1])
            elif op[0] == "gather":
                names.extend(f"{op[1]}-{k}" for k in range(op[2]))
        return names
