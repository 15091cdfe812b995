# expect: none
"""Dict views and merges that are not sets, and sets used in ways whose order does not matter."""
import asyncio

import nbdurable as nd


@nd.function(id="views-ok", trigger="go")
async def views_ok(ctx):
    step = ctx.step
    old = await step.run("old", load, "old")
    new = await step.run("new", load, "new")
    for key in new.keys():
        await step.run(f"key-{key}", keep, key)
    for key, value in (old | new).items():
        await step.run(f"merged-{key}", keep, value)
    added = sorted(new.keys() - old.keys())
    common = len(new.keys() & old.keys())
    first = min(set(new) | set(old), default=None)
    tasks = {asyncio.ensure_future(step.run(f"job-{i}", keep, i)) for i in range(3)}
    done, pending = await asyncio.wait(tasks)
    for task in pending:
        task.cancel()
    results = sorted(t.result() for t in done)
    return {"added": added, "common": common, "first": first, "results": results}


def load(which):
    return {}


def keep(*values):
    return values
