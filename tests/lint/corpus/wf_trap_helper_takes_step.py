# expect: none
"""A module helper that takes the step and runs steps with lambdas: those lambdas are step code."""
import time

import nbdurable as nd


async def timed_fetch(step, name, url):
    return await step.run(name, lambda: (url, time.time()))


@nd.function(id="helper-step", trigger="go")
async def helper_step(ctx):
    first = await timed_fetch(ctx.step, "first", ctx.event.data["a"])
    second = await timed_fetch(ctx.step, "second", ctx.event.data["b"])
    return first, second
