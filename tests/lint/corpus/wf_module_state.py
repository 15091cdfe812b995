# expect: ND604@33, ND604@34, ND201@35, ND202@36, ND604@37, ND701@38, ND604@39, ND604@40, ND604@42
"""Module-level generators and iterators advanced by the workflow: their state depends on earlier runs."""
import itertools
import random

import numpy as np

import nbdurable as nd

RNG = random.Random(1234)
NP_RNG = np.random.default_rng(7)
LOOSE = random.Random()
LOOSE_NP = np.random.default_rng()
ATTEMPTS = itertools.count(1)
PALETTE = itertools.cycle(["red", "green", "blue"])
BATCHES = iter([[1, 2], [3, 4]])


def ids():
    n = 0
    while True:
        n += 1
        yield n


ID_GEN = ids()


@nd.function(id="module-state", trigger="go")
async def module_state(ctx):
    step = ctx.step
    items = await step.run("items", load)
    subset = RNG.sample(items, 2)  # <- ND604
    noise = NP_RNG.normal(size=3)  # <- ND604
    coin = LOOSE.random()  # <- ND201
    draw = LOOSE_NP.integers(10)  # <- ND202
    attempt = next(ATTEMPTS)  # <- ND604
    await step.run(f"try-{attempt}", work, subset, noise, coin, draw)  # <- ND701
    color = next(PALETTE)  # <- ND604
    for batch in BATCHES:  # <- ND604
        await step.run(f"batch-{batch[0]}", work, batch, color)
    job = next(ID_GEN)  # <- ND604
    return job


def load():
    return [1, 2, 3]


def work(*args):
    return args
