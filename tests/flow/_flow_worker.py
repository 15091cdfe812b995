"""A process for flow-control tests: defines one flow-controlled function from a JSON spec, starts runs, waits.

Usage: python _flow_worker.py SPEC.json

Several of these share one journal, as several kernels would. The spec gives:

- ``journal``, ``log`` (the side file every step execution appends to), ``result`` (where the
  final status of each run started here is written as JSON), ``poll_interval``;
- ``function``: ``id``, ``trigger`` and the flow options as plain JSON (``concurrency`` a list of
  ``{"limit", "key"}``, ``throttle``, ``rate_limit``, ``timeouts``, ``cancel_on``, ``debounce``,
  ``priority``: keyword arguments of the matching ``nd`` class);
- ``limits``: ``nd.Limit`` keyword arguments registered before anything runs;
- ``steps``: the workflow, ``["run", name, hold_seconds, limit_name_or_null]``,
  ``["block", name, seconds]`` (a synchronous step that blocks the event loop, as a plain
  blocking call in a notebook does) or ``["sleep", name, seconds]``;
- ``send``: events to send (``{"name", "data"}``) before starting anything, e.g. a cancel;
- ``starts``: runs to start, ``{"via": "send" | "start", "data": {...}, "run_id": optional, "after":
  seconds to wait before this one, optional}``;
- ``resume``: run ids to resume here (a new process picking up runs another one left);
- ``go``: a file to wait for before starting runs, so several processes contend at once;
- ``hold_until``: a file every ``run`` step waits for (after its hold) before it ends, so a test
  decides when a slot frees instead of guessing how long its other processes take to start;
- ``kill_in_step``: SIGKILL this process at the start of its n-th step execution (1-based),
  after logging that the step began, as a dying kernel would.

Each step execution appends ``{"ev": "begin", ...}`` when it starts and ``{"ev": "end",
"start", "end", ...}`` when it ends (times from ``time.time()``, the same clock in every
process), with the pid, run id, step name and the run's event data; ``{"ev": "resume", "at"}``
marks the moment this process resumes a run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import nbdurable as nd

spec: dict[str, Any] = json.loads(Path(sys.argv[1]).read_text())
executions = 0


def log(line: dict[str, Any]) -> None:
    """Append one line to the side file; O_APPEND keeps lines from several processes whole."""
    fd = os.open(spec["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


async def work(name: str, hold: float, run_id: str, data: dict[str, Any]) -> str:
    """One step's body: log its start, hold for a while (or die), log its end."""
    global executions
    executions += 1
    start = time.time()
    common = {"pid": os.getpid(), "run": run_id, "step": name, "data": data}
    log({"ev": "begin", "start": start, **common})
    if spec.get("kill_in_step") == executions:
        os.kill(os.getpid(), signal.SIGKILL)
    await asyncio.sleep(hold)
    while spec.get("hold_until") and not os.path.exists(spec["hold_until"]):
        await asyncio.sleep(0.01)  # held until the test says so, whatever the machine's load
    log({"ev": "end", "start": start, "end": time.time(), **common})
    return name


def blocking(name: str, seconds: float, run_id: str, data: dict[str, Any]) -> str:
    """A synchronous step body: nothing else in this process runs meanwhile (no heartbeat either)."""
    start = time.time()
    common = {"pid": os.getpid(), "run": run_id, "step": name, "data": data}
    log({"ev": "begin", "start": start, **common})
    time.sleep(seconds)
    log({"ev": "end", "start": start, "end": time.time(), **common})
    return name


def flow_options(opts: dict[str, Any]) -> dict[str, Any]:
    """The spec's flow options as ``nd`` objects, keyword arguments of ``@nd.function``."""
    out: dict[str, Any] = {}
    if opts.get("concurrency"):
        out["concurrency"] = [nd.Concurrency(**c) for c in opts["concurrency"]]
    if opts.get("throttle"):
        out["throttle"] = nd.Throttle(**opts["throttle"])
    if opts.get("rate_limit"):
        out["rate_limit"] = nd.RateLimit(**opts["rate_limit"])
    if opts.get("timeouts"):
        out["timeouts"] = nd.Timeouts(**opts["timeouts"])
    if opts.get("cancel_on"):
        out["cancel_on"] = [nd.CancelOn(**c) for c in opts["cancel_on"]]
    if opts.get("debounce"):
        out["debounce"] = nd.Debounce(**opts["debounce"])
    if opts.get("priority"):
        out["priority"] = nd.Priority(**opts["priority"])
    return out


for limit in spec.get("limits") or []:
    nd.Limit(**limit)

fn_spec: dict[str, Any] = spec["function"]


@nd.function(id=fn_spec["id"], trigger=fn_spec.get("trigger"), retries=0, **flow_options(fn_spec))
async def workflow(ctx: nd.Context) -> list[str]:
    done: list[str] = []
    for op in spec["steps"]:
        if op[0] == "run":
            _kind, name, hold, limit_name = op
            extra: dict[str, Any] = {"limit": limit_name} if limit_name else {}
            done.append(await ctx.step.run(name, work, name, hold, ctx.run_id, dict(ctx.event.data), **extra))
        elif op[0] == "block":
            done.append(await ctx.step.run(op[1], blocking, op[1], op[2], ctx.run_id, dict(ctx.event.data)))
        elif op[0] == "sleep":
            await ctx.step.sleep(op[1], op[2])
            done.append(op[1])
    return done


async def main() -> None:
    nd.configure(spec["journal"], poll_interval=spec.get("poll_interval", 0.02))
    for event in spec.get("send") or []:
        await nd.send(event["name"], event.get("data") or {})
    go = spec.get("go")
    while go and not os.path.exists(go):
        await asyncio.sleep(0.005)
    handles: list[nd.RunHandle[Any]] = []
    for run_id in spec.get("resume") or []:
        log({"ev": "resume", "run": run_id, "at": time.time(), "pid": os.getpid()})
        handles.append(nd.get_engine().resume(run_id))
    for start in spec.get("starts") or []:
        if start.get("after"):
            await asyncio.sleep(start["after"])
        if start["via"] == "send":
            handles.extend(await nd.send(fn_spec["trigger"], start.get("data") or {}))
        else:
            handles.append(workflow.start(start.get("data") or {}, run_id=start.get("run_id")))
    outcome: dict[str, Any] = {}
    for handle in handles:
        try:
            await handle.result()
        except (nd.NbDurableError, nd.RunCancelledError):
            pass  # cancelled, skipped or timed out: the status below says which
        rec = handle.record
        outcome[handle.run_id] = {"status": handle.status, "reason": rec.status_reason if rec else None}
    if spec.get("result"):
        Path(spec["result"]).write_text(json.dumps(outcome))


asyncio.run(main())
