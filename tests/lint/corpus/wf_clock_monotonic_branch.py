# expect: ND102@11, ND102@13
"""A performance counter that decides a branch is not just timing output."""
import time

import nbdurable as nd


@nd.function(id="budget", trigger="crawl/start")
async def budget(ctx):
    step = ctx.step
    t0 = time.perf_counter()  # <- ND102
    pages = await step.run("crawl-1", crawl, 1)
    if time.perf_counter() - t0 > 30:  # <- ND102
        return pages
    return pages + await step.run("crawl-2", crawl, 2)


def crawl(n):
    return [n]
