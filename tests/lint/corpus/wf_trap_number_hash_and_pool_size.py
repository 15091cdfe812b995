# expect: none
"""hash() of numbers (annotated parameters, len(), arithmetic) and host facts that only size a pool: nothing differs."""
import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import nbdurable as nd


@nd.function(id="number-hash")
async def number_hash(ctx, n: int, ratio: float, items: list):
    bucket = hash(n) % 8
    other = hash(len(items) + 1) % 8
    mixed = hash(-round(ratio)) % 4
    limit = asyncio.Semaphore(os.cpu_count() or 4)
    pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
    async with limit:
        await ctx.step.run(f"b-{bucket}-{other}-{mixed}", work, n)
    pool.shutdown()


def work(*args):
    return args
