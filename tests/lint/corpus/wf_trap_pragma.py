# expect: none
"""A finding on a line marked `# nd: ignore[CODE]` is dropped (here the user journaled it elsewhere)."""
import time

import nbdurable as nd


@nd.function(id="pragma", trigger="go")
async def pragma(ctx):
    step = ctx.step
    started = time.time()  # nd: ignore[ND101]
    await step.run("work", work, started)  # the input hash changes; the user accepts that


def work(started):
    return started
