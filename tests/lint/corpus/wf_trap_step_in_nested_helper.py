# expect: none
"""A local coroutine that takes `step` and is gathered: its steps' lambdas are still step code."""
import asyncio

import nbdurable as nd


@nd.function(id="fanout", trigger="go")
async def fanout(ctx):
    step = ctx.step

    async def handle(i, path):
        text = await step.run(f"read-{i}", lambda: open(path).read())
        return await step.run(f"count-{i}", len, text)

    counts = await asyncio.gather(*(handle(i, p) for i, p in enumerate(ctx.event.data["paths"])))
    return sum(counts)
