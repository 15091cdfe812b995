# expect: none
"""Sleeping is not nondeterministic: time.sleep, asyncio.sleep and step.sleep are not reported."""
import asyncio
import time

import nbdurable as nd


@nd.function(id="sleepy", trigger="go")
async def sleepy(ctx):
    step = ctx.step
    time.sleep(0.01)
    await asyncio.sleep(0.01)
    await step.sleep("pause", "5s")
    return await step.run("done", lambda: "done")
