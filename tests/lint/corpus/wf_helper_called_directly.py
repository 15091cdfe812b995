# expect: ND101@15
"""A module helper called directly (not through step.run) is workflow code: reported at the call."""
import time

import nbdurable as nd


def make_batch_id(prefix):
    return f"{prefix}-{int(time.time())}"


@nd.function(id="batch", trigger="batch")
async def batch(ctx):
    step = ctx.step
    batch_id = make_batch_id("b")  # <- ND101
    await step.run("submit", submit, batch_id)


def submit(batch_id):
    return batch_id
