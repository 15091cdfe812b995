# expect: ND201@12
"""random.Random() without a seed is flagged; random.Random(7) with a fixed seed is not."""
import random

import nbdurable as nd


@nd.function(id="split", trigger="data/split")
async def split(ctx):
    step = ctx.step
    rows = await step.run("rows", load)
    jitter = random.Random()  # <- ND201
    fixed = random.Random(7)
    fixed.shuffle(rows)
    delay = jitter.uniform(0, 1)
    return await step.run("train", train, rows[:80], delay)


def load():
    return list(range(100))


def train(rows, delay):
    return len(rows), delay
