# expect: ND301@11
"""pandas.read_csv (through the pd alias) reads a file outside a step."""
import pandas as pd

import nbdurable as nd


@nd.function(id="frame", trigger="go")
async def frame(ctx):
    step = ctx.step
    df = pd.read_csv("prices.csv")  # <- ND301
    return await step.run("fit", fit, df.to_dict())


def fit(rows):
    return rows
