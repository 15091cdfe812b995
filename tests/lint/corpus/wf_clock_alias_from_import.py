# expect: ND101@11
"""`from time import time as now` is followed: now() is still the wall clock."""
from time import time as now

import nbdurable as nd


@nd.function(id="deadline", trigger="job/created")
async def deadline(ctx):
    step = ctx.step
    deadline = now() + 3600  # <- ND101
    if deadline > ctx.event.data["limit"]:
        await step.run("too-late", notify, ctx.event.data["owner"])


def notify(owner):
    return owner
