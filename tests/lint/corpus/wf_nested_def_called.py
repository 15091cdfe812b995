# expect: ND201@13
"""A local function called directly runs as workflow code; its body is checked where it is."""
import random

import nbdurable as nd


@nd.function(id="ab-test", trigger="visit")
async def ab_test(ctx):
    step = ctx.step

    def bucket():
        return "a" if random.random() < 0.5 else "b"  # <- ND201

    variant = bucket()
    await step.run("show", show, variant)


def show(variant):
    return variant
