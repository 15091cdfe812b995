# expect: ND202@11, ND202@12
"""`import numpy as np`: np.random draws and an unseeded default_rng() are flagged; a seeded one is not."""
import numpy as np

import nbdurable as nd


@nd.function(id="bootstrap", trigger="stats/run")
async def bootstrap(ctx):
    step = ctx.step
    noise = np.random.rand(3)  # <- ND202
    rng = np.random.default_rng()  # <- ND202
    stable = np.random.default_rng(1234)
    idx = stable.integers(0, 10, size=5)
    await step.run("fit", fit, noise.tolist(), rng.normal(), idx.tolist())


def fit(noise, x, idx):
    return noise, x, idx
