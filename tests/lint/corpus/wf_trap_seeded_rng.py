# expect: none
"""Generators with a fixed seed give the same numbers on every replay."""
import random

import numpy as np

import nbdurable as nd


@nd.function(id="seeded", trigger="go")
async def seeded(ctx):
    step = ctx.step
    rng = random.Random(42)
    order = rng.sample(range(10), 10)
    gen = np.random.default_rng(seed=1234)
    weights = gen.normal(size=3)
    await step.run("train", train, order, weights.tolist())


def train(order, weights):
    return order, weights
