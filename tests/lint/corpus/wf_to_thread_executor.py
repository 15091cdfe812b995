# expect: ND321@14, ND101@16, ND102@17
"""asyncio.to_thread and run_in_executor call their function right away, in workflow code."""
import asyncio
import time

import requests

import nbdurable as nd


@nd.function(id="threads", trigger="go")
async def threads(ctx):
    step = ctx.step
    page = await asyncio.to_thread(requests.get, ctx.event.data["url"])  # <- ND321
    loop = asyncio.get_running_loop()
    stamp = await loop.run_in_executor(None, time.time)  # <- ND101
    tick = loop.time()  # <- ND102
    await step.run("store", store, page.text, stamp, tick)


def store(*values):
    return values
