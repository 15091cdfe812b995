# expect: ND101@11, ND701@11
"""A step name built from the clock differs on replay: the step runs again instead of replaying."""
import time

import nbdurable as nd


@nd.function(id="poll", trigger="poll")
async def poll(ctx):
    step = ctx.step
    status = await step.run(f"check-{time.time()}", check, ctx.event.data["job"])  # <- ND701, ND101
    return status


def check(job):
    return job
