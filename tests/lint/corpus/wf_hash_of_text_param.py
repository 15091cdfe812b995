# expect: ND206@10, ND312@11
"""hash() of a parameter annotated as text, and a host fact used as a value: both differ between processes."""
import os

import nbdurable as nd


@nd.function(id="text-hash")
async def text_hash(ctx, name: str, n: int):
    bucket = hash(name) % 8  # <- ND206
    cores = os.cpu_count()  # <- ND312
    await ctx.step.run("b", work, bucket, cores + hash(n))


def work(*args):
    return args
