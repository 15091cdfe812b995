"""A workflow process for the claim and journal-fault tests: python _owner_worker.py SPEC.json

The spec names the journal, the run id, a side-effect log (appended to when a
step's work is done, with this process's pid) and what to do:

- ``ready``/``go``: write ``ready`` once the journal is open, then spin until ``go``
  exists, so several processes start a run at the same moment;
- ``hold``: the step that, once entered (logged as ``enter``), waits for the
  ``release`` file before doing its work;
- ``hostname``: pretend to run on another host (its claim then lives by its lease);
- ``fsize``: set RLIMIT_FSIZE to the journal's size plus this many bytes once it is
  open (SIGXFSZ ignored, so writes fail with EFBIG as on a full disk);
- ``max_pages``: let the journal grow by this many pages only (SQLite then reports SQLITE_FULL);
- ``size``: bytes of each step's result (after its name, printable ASCII drawn from a generator seeded
  with the name: text the journal cannot compress much, so it fills the file as its size says).

The outcome (result, or the error's type and message) is written to ``result``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

spec: dict[str, Any] = json.loads(Path(sys.argv[1]).read_text())
if spec.get("hostname"):
    socket.gethostname = lambda: spec["hostname"]  # type: ignore[assignment]

import nbdurable as nd  # noqa: E402 - after the hostname is set, so the owner string uses it
from nbdurable.journal._owner import this_owner  # noqa: E402


def log(line: str) -> None:
    with open(spec["effects"], "a") as fh:
        fh.write(f"{line} {os.getpid()}\n")


def work(name: str) -> str:
    log(f"enter {name}")
    if spec.get("hold") == name:
        while not os.path.exists(spec["release"]):
            time.sleep(0.005)
    log(f"done {name}")
    return payload(name, int(spec.get("size", 0)))


def payload(name: str, size: int) -> str:
    """``name`` and ``size`` pseudo-random printable characters (test_journal_faults.payload is the same)."""
    import random
    import string

    chars = string.ascii_letters + string.digits + string.punctuation
    return name + "".join(random.Random(name).choices(chars, k=size))


@nd.function(id="fault-workflow", retries=0, lint="off")
async def workflow(ctx: nd.Context) -> list[str]:
    return [await ctx.step.run(f"s{i}", work, f"s{i}") for i in range(int(spec["steps"]))]


def limit_file_size(journal: Path) -> None:
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    used = max(journal.stat().st_size, Path(f"{journal}-wal").stat().st_size if Path(f"{journal}-wal").exists() else 0)
    limit = used + int(spec["fsize"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


async def main() -> None:
    engine = nd.configure(spec["journal"])
    if spec.get("max_pages"):
        writer = engine.journal._writer  # type: ignore[attr-defined]
        pages = writer.execute("PRAGMA page_count").fetchone()[0] + int(spec["max_pages"])
        writer.execute(f"PRAGMA max_page_count={pages}")
    if spec.get("fsize"):
        limit_file_size(Path(spec["journal"]))
    if spec.get("ready"):
        Path(spec["ready"]).touch()
        while not os.path.exists(spec["go"]):
            time.sleep(0.001)
    outcome: dict[str, Any] = {"pid": os.getpid(), "owner": this_owner()}
    try:
        outcome["value"] = await asyncio.wait_for(workflow.run(run_id=spec["run_id"]), 60)
        outcome["outcome"] = "completed"
    except (nd.NbDurableError, nd.RunCancelledError) as exc:  # a cancel is a BaseException
        outcome["outcome"] = type(exc).__name__
        outcome["message"] = str(exc)
    except Exception as exc:  # a raw error is a finding of the test, reported as such
        outcome["outcome"] = "raw " + type(exc).__name__
        outcome["message"] = repr(exc)
    tmp = Path(spec["result"] + ".tmp")
    tmp.write_text(json.dumps(outcome))
    tmp.rename(spec["result"])


asyncio.run(main())
