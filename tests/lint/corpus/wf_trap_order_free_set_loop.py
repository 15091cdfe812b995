# expect: none
"""Loops over a set whose outcome does not depend on the order: each statement acts on the item alone."""
import asyncio
import os

import nbdurable as nd


@nd.function(id="order-free", trigger="go")
async def order_free(ctx):
    step = ctx.step
    tasks = {asyncio.ensure_future(step.run(f"job-{i}", job, i)) for i in range(3)}
    done, pending = await asyncio.wait(tasks, timeout=None)
    for task in pending:
        task.cancel()
    temp_files = set(ctx.event.data.get("temp", []))
    for path in temp_files:
        os.remove(path)
    for task in done:
        print(task.result())
    return await step.run("finish", job, len(done))


def job(i):
    return i
