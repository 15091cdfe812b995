# expect: ND202@14, ND202@15
"""DataFrame.sample without random_state draws from numpy's global generator."""
import random

import pandas as pd

import nbdurable as nd


@nd.function(id="sample", trigger="go")
async def sample(ctx):
    rows = await ctx.step.run("rows", load)
    df = pd.DataFrame(rows)
    qa = df.sample(frac=0.1)  # <- ND202
    few = df.sample(n=5)  # <- ND202
    fixed = df.sample(n=5, random_state=0)
    local = random.Random(3).sample(rows, 2)
    return await ctx.step.run("check", check, qa.to_dict(), few.to_dict(), fixed.to_dict(), local)


def load():
    return []


def check(*args):
    return args
