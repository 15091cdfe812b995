"""A process for the Inngest-parity tests: fails, retries, serves or resumes runs, and may kill itself.

Usage: python _inngest_worker.py MODE JOURNAL LOG

Every step execution and body execution appends a JSON line to LOG (a plain file outside
the journal), so the test can count what ran in which process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from typing import Any

import nbdurable as nd

mode, journal_path, log_path = sys.argv[1], sys.argv[2], sys.argv[3]


def note(what: str, **extra: Any) -> str:
    with open(log_path, "a") as fh:
        fh.write(json.dumps({"what": what, "pid": os.getpid(), "t": time.time(), **extra}) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return what


def die() -> None:
    if mode.endswith("-kill"):
        os.kill(os.getpid(), signal.SIGKILL)


async def on_failure(ctx: nd.Context) -> str:
    await ctx.step.run("note", note, "handler", failed_run=ctx.event.data["run_id"])
    await ctx.step.run("die", die)
    return str(ctx.event.data["error"]["message"])


@nd.function(id="inngest-failing", retries=0, on_failure=on_failure)
async def failing(ctx: nd.Context) -> None:
    await ctx.step.run("work", note, "work")
    raise ValueError("intentional failure")


@nd.function(id="inngest-retrying", retries=2)
async def retrying(ctx: nd.Context) -> str:
    await ctx.step.run("a", note, "a")
    note("body", attempt=ctx.attempt)
    if ctx.attempt == 0:
        raise nd.RetryAfterError("not yet", 1.5)
    return str(await ctx.step.run("b", note, "b"))


@nd.function(id="inngest-remote-double", retries=0)
async def remote_double(ctx: nd.Context) -> int:
    return int(await ctx.step.run("double", lambda: ctx.event.data["n"] * 2))


@nd.function(id="inngest-singleton", retries=0, singleton=nd.Singleton(mode="skip"))
async def single(ctx: nd.Context) -> str:
    await ctx.step.run("hold", note, "holding")
    await ctx.step.sleep("zzz", "2s")
    return "held"


@nd.function(
    id="inngest-batch", trigger="inn/batched", retries=0, batch_events=nd.BatchEvents(max_size=5, timeout="1s")
)
async def batched(ctx: nd.Context) -> list[int]:
    await ctx.step.run("note", note, "batch", events=len(ctx.events))
    return [e.data["n"] for e in ctx.events]


async def until_sleeping(run_id: str) -> None:
    """Kill this process once the run's function-level retry is journaled and it sleeps for it."""
    while True:
        rec = nd.get_engine().journal.get_run(run_id)
        if rec is not None and rec.status == "sleeping":
            os.kill(os.getpid(), signal.SIGKILL)
        await asyncio.sleep(0.01)


async def serve(function_id: str, count: int) -> None:
    """Resume queued runs of ``function_id`` handed to any process, as a worker would, until ``count`` ended."""
    served = 0
    deadline = time.monotonic() + 30
    while served < count and time.monotonic() < deadline:
        for rec in nd.get_engine().journal.list_runs(statuses=["queued"], function_id=function_id):
            if rec.owner is None:
                try:
                    await nd.get_engine().resume(rec.run_id).result()
                except nd.NbDurableError:
                    pass
                served += 1
        await asyncio.sleep(0.02)


async def main() -> None:
    nd.configure(journal_path, poll_interval=0.02)
    if mode.startswith("failure"):
        try:
            await failing.run(run_id="failing")
        except nd.RunFailedError:
            pass
        handler = nd.get_run("failing:failure:1")
        print(json.dumps({"handler": await handler.result()}))
    elif mode == "retry-kill":
        retrying.start(run_id="retrying")
        await until_sleeping("retrying")
    elif mode == "batch-kill":
        await nd.send("inn/batched", data={"n": 1})
        await nd.send("inn/batched", data={"n": 2})
        os.kill(os.getpid(), signal.SIGKILL)  # before the batch's timeout
    elif mode == "singleton":
        await single.run(run_id="held-elsewhere")
    elif mode == "serve":
        await serve("inngest-remote-double", 1)
    elif mode == "resume":
        out = {}
        for rec in nd.get_engine().resumable():
            out[rec.run_id] = await nd.get_engine().resume(rec.run_id).result()
        print(json.dumps(out))


asyncio.run(main())
