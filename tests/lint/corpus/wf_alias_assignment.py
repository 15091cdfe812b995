# expect: ND311@17, ND103@18, ND201@19
"""Aliases made by assignment (`env = os.environ`, `stamp = datetime.now`) are followed like imports."""
import os
import random
from datetime import datetime

import nbdurable as nd

env = os.environ
stamp = datetime.now


@nd.function(id="aliases", trigger="go")
async def aliases(ctx):
    step = ctx.step
    draw = random.random
    region = env["REGION"]  # <- ND311
    when = stamp()  # <- ND103
    luck = draw()  # <- ND201
    await step.run("use", use, region, when, luck)


def use(*values):
    return values
