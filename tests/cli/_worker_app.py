"""Functions served by the worker processes of tests/test_workers.py (``nbdurable worker tests._worker_app``).

Every step execution appends one line to ``$NBD_TEST_LOG`` (run, step, pid, start and end time): the
tests count from it how often each step ran and where, without trusting the journal they check.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import nbdurable as nd

LOG = os.environ.get("NBD_TEST_LOG", os.devnull)


def _line(row: dict[str, Any]) -> None:
    with open(LOG, "a") as fh:  # one short line per write: O_APPEND keeps lines whole across processes
        fh.write(json.dumps(row) + "\n")


async def effect(run_id: str, step: str, hold: float) -> str:
    start = time.time()
    _line({"ev": "begin", "run": run_id, "step": step, "pid": os.getpid(), "at": start})
    await asyncio.sleep(hold)
    _line({"ev": "end", "run": run_id, "step": step, "pid": os.getpid(), "start": start, "end": time.time()})
    return f"{step}@{os.getpid()}"


@nd.function(id="wk-job", trigger="wk/job", retries=0, on="workers")
async def job(ctx: nd.Context) -> int:
    """Three steps; its event says how long each holds the worker (``hold``) and its number (``n``)."""
    hold = float(ctx.event.data.get("hold", 0.02))
    for i in range(3):
        await ctx.step.run(f"s{i}", effect, ctx.run_id, f"s{i}", hold)
    return int(ctx.event.data.get("n", 0))


@nd.function(id="wk-napper", retries=0, on="workers")
async def napper(ctx: nd.Context) -> str:
    """A step, a durable sleep, a wait for an event, a step: what workers keep while they wait."""
    await ctx.step.run("before", effect, ctx.run_id, "before", 0.0)
    await ctx.step.sleep("nap", float(ctx.event.data.get("nap", 0.3)))
    got = await ctx.step.wait_for_event(
        "answer", event="wk/answer", timeout="1h", if_exp="async.data.key == event.data.key"
    )
    await ctx.step.run("after", effect, ctx.run_id, "after", 0.0)
    return str(got.data["text"]) if got is not None else "no answer"


@nd.function(id="wk-slow", retries=0, on="workers")
async def slow(ctx: nd.Context) -> list[str]:
    """Long steps, to stop a worker while one is in flight."""
    hold = float(ctx.event.data.get("hold", 1.0))
    return [await ctx.step.run(f"long{i}", effect, ctx.run_id, f"long{i}", hold) for i in range(2)]


@nd.function(id="wk-child", retries=0)
async def child(ctx: nd.Context) -> int:
    """Defined only in workers: invoked by its id from processes that do not define it."""
    await ctx.step.run("work", effect, ctx.run_id, "work", 0.0)
    return int(ctx.event.data["x"]) * 2
