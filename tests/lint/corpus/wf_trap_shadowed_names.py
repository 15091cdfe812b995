# expect: none
"""Local names that shadow module names (time, random, uuid) are not the modules."""
import random
import time
import uuid

import nbdurable as nd


@nd.function(id="shadow", trigger="go")
async def shadow(ctx):
    step = ctx.step
    time = step.now()
    random = ctx.event.data["random"]
    uuid = step.uuid()
    await step.run(f"at-{time.isoformat()}", handle, random.choice, uuid)


def handle(a, b):
    return a, b


def unused():
    return time, random, uuid
