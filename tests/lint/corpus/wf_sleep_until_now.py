# expect: ND103@11
"""A deadline computed from the clock outside a step is evaluated again on every replay."""
from datetime import datetime, timedelta

import nbdurable as nd


@nd.function(id="reminder", trigger="reminder/set")
async def reminder(ctx):
    step = ctx.step
    await step.sleep_until("wait", datetime.now() + timedelta(hours=1))  # <- ND103
    await step.run("remind", remind, ctx.event.data["user"])


def remind(user):
    return user
