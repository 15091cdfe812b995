# expect: ND202@14
"""DataFrame.sample(n) with n given positionally is random too; a seeded random.Random's sample is not."""
import random

import pandas as pd

import nbdurable as nd


@nd.function(id="sample-n", trigger="go")
async def sample_n(ctx):
    rows = await ctx.step.run("rows", load)
    df = pd.DataFrame(rows)
    few = df.sample(5)  # <- ND202
    rng = random.Random(11)
    picked = rng.sample(rows, 2)
    also = rng.sample(rows, k=1)
    return await ctx.step.run("check", check, few.to_dict(), picked, also)


def load():
    return []


def check(*args):
    return args
