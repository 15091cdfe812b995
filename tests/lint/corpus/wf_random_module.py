# expect: ND201@12, ND201@13
"""The random module's global generator draws other numbers on replay."""
import random

import nbdurable as nd


@nd.function(id="sample", trigger="eval/start")
async def sample(ctx):
    step = ctx.step
    items = await step.run("load", load_items)
    random.shuffle(items)  # <- ND201
    if random.random() < 0.1:  # <- ND201
        await step.run("audit", audit, items[0])
    return items[:10]


def load_items():
    return list(range(100))


def audit(item):
    return item
