"""Helpers of the fault tests: worker processes on one journal, and waiting with a deadline (never a hang)."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("_owner_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll ``predicate`` until it is truthy; fail (never hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout:g}s")
        time.sleep(0.01)


class Rig:
    """One journal, one side-effect log, one run id; worker processes started with a spec each."""

    def __init__(self, tmp: Path, *, steps: int = 5, run_id: str = "r") -> None:
        self.tmp = tmp
        self.journal = tmp / "journal.db"
        self.effects = tmp / "effects.log"
        self.release = tmp / "release"
        self.go = tmp / "go"
        self.steps = steps
        self.run_id = run_id
        self.n = 0

    def spawn(self, env: dict[str, str] | None = None, **spec: Any) -> tuple[subprocess.Popen[bytes], Path]:
        self.n += 1
        result = self.tmp / f"result{self.n}.json"
        full = {
            "journal": str(self.journal),
            "effects": str(self.effects),
            "release": str(self.release),
            "go": str(self.go),
            "run_id": self.run_id,
            "steps": self.steps,
            "result": str(result),
            **spec,
        }
        path = self.tmp / f"spec{self.n}.json"
        path.write_text(json.dumps(full))
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(path)],
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return proc, result

    def race(self, n: int, **spec: Any) -> list[tuple[subprocess.Popen[bytes], Path]]:
        """Start ``n`` workers that all call ``fn.run(run_id=...)`` at the same moment."""
        self.go.unlink(missing_ok=True)
        workers = []
        for _i in range(n):
            ready = self.tmp / f"ready{self.n + 1}"
            workers.append((*self.spawn(ready=str(ready), **spec), ready))
        wait_until(lambda: all(r.exists() for _p, _res, r in workers), "every racer ready")
        self.go.touch()
        return [(p, res) for p, res, _r in workers]

    def effects_done(self) -> collections.Counter[str]:
        """How many times each step's work was done, over every process."""
        if not self.effects.exists():
            return collections.Counter()
        lines = [line.split() for line in self.effects.read_text().splitlines()]
        return collections.Counter(parts[1] for parts in lines if parts[0] == "done")

    def entered(self, step: str) -> bool:
        return self.effects.exists() and f"enter {step} " in self.effects.read_text()


def finish(proc: subprocess.Popen[bytes], result: Path, timeout: float = 60.0) -> dict[str, Any]:
    """Wait for a worker to end (it must: a hang fails the test) and return its outcome."""
    try:
        _out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        raise AssertionError(f"worker {proc.pid} did not finish in {timeout:g}s (a hang):\n{err.decode()}") from None
    assert proc.returncode == 0, f"worker {proc.pid} exited {proc.returncode}:\n{err.decode()}"
    assert result.exists(), f"worker {proc.pid} wrote no outcome:\n{err.decode()}"
    outcome: dict[str, Any] = json.loads(result.read_text())
    outcome["stderr"] = err.decode()
    return outcome
