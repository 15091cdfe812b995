# expect: ND103@11
"""ctx.step used without an alias; a lambda is fine, an argument computed from the clock is not."""
from datetime import datetime

import nbdurable as nd


@nd.function(id="direct", trigger="go")
async def direct(ctx):
    fine = await ctx.step.run("fine", lambda: datetime.now().isoformat())
    await ctx.step.run("stamp", record, fine, datetime.now())  # <- ND103


def record(fine, now):
    return fine, now
