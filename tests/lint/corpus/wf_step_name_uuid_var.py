# expect: ND205@11, ND701@13
"""Taint follows a variable: a uuid kept in `rid` and used later in a step name."""
import uuid

import nbdurable as nd


@nd.function(id="job", trigger="job/new")
async def job(ctx):
    step = ctx.step
    rid = uuid.uuid4().hex[:8]  # <- ND205
    label = "job-" + rid
    await step.run(label, run_job, ctx.event.data)  # <- ND701


def run_job(data):
    return data
