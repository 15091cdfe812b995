"""A process that runs one workflow on a journal, as a kernel or script would, for the server tests.

Usage: python _worker.py JOURNAL MODE RUN_ID OUT

MODE is ``sleeper`` (a step, then a two-minute durable sleep: cancel it), ``approver``
(a step, then a wait for ``test/approved`` whose data names this run: answer it) or
``stepper`` (three steps a few tenths of a second apart: watch them). When the run
ends, its status and result (or error) are written to OUT as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import nbdurable as nd

journal, mode, run_id, out = sys.argv[1:5]
nd.configure(journal, poll_interval=0.05)


@nd.function(id="sleeper")
async def sleeper(ctx: nd.Context) -> str:
    await ctx.step.run("before", lambda: "ok")
    await ctx.step.sleep("nap", "120s")
    return await ctx.step.run("after", lambda: "should not run")


@nd.function(id="approver")
async def approver(ctx: nd.Context) -> dict[str, Any] | None:
    await ctx.step.run("prepare", lambda: "ok")
    event = await ctx.step.wait_for_event(
        "approval", event="test/approved", timeout="120s", if_exp="async.data.run == event.data.run"
    )
    return None if event is None else event.data


async def pause(i: int) -> int:
    await asyncio.sleep(0.4)
    return i


@nd.function(id="stepper")
async def stepper(ctx: nd.Context) -> int:
    total = 0
    for i in range(3):
        total += await ctx.step.run(f"step-{i}", pause, i)
    return total


async def main() -> None:
    handle = {"sleeper": sleeper, "approver": approver, "stepper": stepper}[mode].start(
        run_id=run_id, data={"run": run_id}
    )
    outcome: dict[str, Any]
    try:
        outcome = {"status": "completed", "result": await handle.result()}
    except (nd.NbDurableError, nd.RunCancelledError) as exc:  # a cancel is a BaseException
        outcome = {"status": handle.status, "error": f"{type(exc).__name__}: {exc}"}
    Path(out).write_text(json.dumps(outcome))


asyncio.run(main())
