# expect: none
"""Generators made fresh in the workflow from a fixed seed, and module-level ones used only inside steps."""
import itertools
import random

import nbdurable as nd

SHARED = random.Random(99)
COUNTER = itertools.count()


def draw_inside():
    return SHARED.random()


@nd.function(id="fresh-state", trigger="go")
async def fresh_state(ctx):
    step = ctx.step
    rng = random.Random(ctx.event.data["seed"])
    pick = rng.choice(["a", "b", "c"])
    numbers = itertools.count(1)
    first = next(numbers)
    drawn = await step.run("drawn", draw_inside)
    ticket = await step.run("ticket", lambda: next(COUNTER))
    return await step.run(f"use-{pick}-{first}", use, drawn, ticket)


def use(*args):
    return args
