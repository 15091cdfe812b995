# expect: ND102@12, ND102@13
"""The event loop's clock and time.monotonic are monotonic counters: other values on replay."""
import asyncio
import time

import nbdurable as nd


@nd.function(id="ticker", trigger="tick")
async def ticker(ctx):
    step = ctx.step
    mark = asyncio.get_running_loop().time()  # <- ND102
    since = time.monotonic()  # <- ND102
    await step.run("save", save, mark, since)


def save(mark, since):
    return mark, since
