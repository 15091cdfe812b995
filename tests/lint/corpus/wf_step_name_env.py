# expect: ND311@11, ND701@11
"""A step name read from the environment: another kernel may have another value."""
import os

import nbdurable as nd


@nd.function(id="env-step", trigger="go")
async def env_step(ctx):
    step = ctx.step
    await step.run(os.environ["STEP_NAME"], work)  # <- ND311, ND701


def work():
    return 1
