# expect: none
"""Deadlines and ids derived from journaled values are stable on replay."""
from datetime import timedelta

import nbdurable as nd


@nd.function(id="deadline-ok", trigger="go")
async def deadline_ok(ctx):
    step = ctx.step
    deadline = step.now() + timedelta(hours=ctx.event.data["hours"])
    await step.sleep_until("until-deadline", deadline)
    ticket = f"T-{step.uuid().hex[:8]}"
    if step.random() < ctx.event.data["sample_rate"]:
        await step.run(f"sample-{ticket}", sample, ticket)


def sample(ticket):
    return ticket
