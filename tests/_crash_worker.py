"""A workflow process for crash tests: runs a workflow described as JSON, may kill itself.

Usage: python _crash_worker.py SPEC.json

The spec names the journal, the side-effect log (a plain file outside the
journal, appended to by every step execution), the run id, the operations of
the workflow, and optionally where to die with SIGKILL:
``{"kill": {"op": 7, "phase": "before"|"after"}}`` kills inside the 7th step
execution, before or after its side effect (so after means: effect done, result
not yet committed).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sys
from typing import Any

import nbdurable as nd

spec: dict[str, Any] = json.loads(open(sys.argv[1]).read())
kill = spec.get("kill") or {}
executions = 0


def effect(name: str, value: Any) -> Any:
    """One step's side effect: a line in the log file, with the kill hook around it."""
    global executions
    executions += 1
    if kill.get("op") == executions and kill.get("phase") == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    with open(spec["log"], "a") as fh:
        fh.write(json.dumps({"step": name, "pid": os.getpid()}) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    if kill.get("op") == executions and kill.get("phase") == "after":
        os.kill(os.getpid(), signal.SIGKILL)
    return value


async def big(name: str, size: int) -> str:
    # Random text: the journal compresses a long output, and this one must stay megabytes on its way to disk.
    return str(effect(name, base64.b64encode(os.urandom(size)).decode()[:size]))


@nd.function(id="crash-workflow", retries=0)
async def workflow(ctx: nd.Context) -> dict[str, Any]:
    step = ctx.step
    out: dict[str, Any] = {}
    for i, op in enumerate(spec["ops"]):
        kind = op[0]
        if kind == "run":
            name = op[1]
            out[name] = await step.run(name, effect, name, i * i)
        elif kind == "gather":
            name, n = op[1], op[2]
            results = await asyncio.gather(
                *[step.run(f"{name}-{k}", effect, f"{name}-{k}", k * 10 + i) for k in range(n)]
            )
            out[name] = list(results)
        elif kind == "sleep":
            await step.sleep(op[1], op[2])
            out[op[1]] = "slept"
        elif kind == "wait":
            got = await step.wait_for_event(op[1], event=op[2], timeout="1h")
            out[op[1]] = None if got is None else got.data
        elif kind == "send":
            ids = await step.send_event(op[1], {"name": "crash/sent", "data": {"i": i}})
            out[op[1]] = ids
        elif kind == "uuid":
            value = str(step.uuid())
            out[op[1]] = await step.run(op[1], effect, op[1], value)
        elif kind == "big":
            blob = await step.run(op[1], big, op[1], op[2])
            out[op[1]] = len(blob)
    return out


async def main() -> None:
    nd.configure(spec["journal"])
    result = await workflow.run(run_id=spec["run_id"])
    with open(spec["result"], "w") as fh:
        json.dump(result, fh)


asyncio.run(main())
