"""Workflows for the sidebar's browser tests: run by another process (``_sidebar_worker.py``) and
defined in the Jupyter server too (``c.NbDurable.function_modules``), so the server can resume and rerun them.

``flaky`` fails at its second step until the file named by the run's data ``flag`` exists:
the test makes the run fail, creates the file, then resumes it from the sidebar.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nbdurable as nd


async def _pause(i: int, seconds: float) -> int:
    await asyncio.sleep(seconds)
    return i


@nd.function(id="sb-steps")
async def steps(ctx: nd.Context) -> int:
    """Steps a little apart (``data.n`` of them, ``data.pause`` seconds each): a run to watch grow."""
    n = int(ctx.event.data.get("n", 3))
    pause = float(ctx.event.data.get("pause", 0.4))
    total = 0
    for i in range(n):
        total += await ctx.step.run(f"step-{i + 1}", _pause, i, pause)
    return total


@nd.function(id="sb-sleeper")
async def sleeper(ctx: nd.Context) -> str:
    """A step, then a long durable sleep: a run to cancel."""
    await ctx.step.run("before", lambda: "ok")
    await ctx.step.sleep("nap", "300s")
    return await ctx.step.run("after", lambda: "should not run")


@nd.function(id="sb-approver")
async def approver(ctx: nd.Context) -> dict[str, Any] | None:
    """A step, then a wait for ``sb/approved`` whose data names this run: a run to approve."""
    await ctx.step.run("prepare", lambda: {"refund": 120})
    event = await ctx.step.wait_for_event(
        "approval", event="sb/approved", timeout="300s", if_exp="async.data.run == event.data.run"
    )
    return None if event is None else event.data


def _check_flag(flag: str) -> str:
    if not Path(flag).exists():
        raise RuntimeError(f"the flag file {flag} is not there yet")
    return "flag found"


@nd.function(id="sb-flaky", retries=0)
async def flaky(ctx: nd.Context) -> str:
    """Fails at ``check`` until ``data.flag`` exists; a run to resume."""
    await ctx.step.run("first", lambda: "one")
    return await ctx.step.run("check", _check_flag, str(ctx.event.data["flag"]))
