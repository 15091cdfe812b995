# expect: ND312@11, ND701@11
"""The process id differs after a restart; used in a step name, the step is not found on replay."""
import os

import nbdurable as nd


@nd.function(id="worker", trigger="work")
async def worker(ctx):
    step = ctx.step
    await step.run(f"claim-{os.getpid()}", claim, ctx.event.data["job"])  # <- ND312, ND701


def claim(job):
    return job
