"""Shared bits of the benchmark workers: the payload, the clock, and how a worker reports.

Every worker is a fresh process started by run_bench.py; it prints exactly one JSON
object on its last stdout line (flushed, so it survives the worker killing itself).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

PAYLOAD = "x" * 200
"""The 200-byte result every trivial step returns (200 ASCII characters)."""

clock = time.perf_counter
cpu = time.process_time
"""CPU time of the whole process (all threads): steadier than wall time when other work shares the machine."""


def us_per_step(start: float, end: float, n: int) -> float:
    """Microseconds per step between two clock readings (N=0 runs count as one step)."""
    return (end - start) / max(n, 1) * 1e6


def report(**values: Any) -> None:
    """Print the worker's result as the last stdout line, flushed before anything else happens."""
    sys.stdout.write(json.dumps(values) + "\n")
    sys.stdout.flush()


def die() -> None:
    """Stop like a crashed kernel: SIGKILL, no clean-up, no atexit handlers."""
    os.kill(os.getpid(), signal.SIGKILL)


def checkpointed_size(path: Path) -> int:
    """Bytes of an SQLite file once its WAL is folded in (PRAGMA wal_checkpoint(TRUNCATE))."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return path.stat().st_size
