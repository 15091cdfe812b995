# expect: ND502@12, ND502@13, ND502@14
"""A variable assigned from set() keeps its unordered nature through list(), join and pop()."""
import nbdurable as nd


@nd.function(id="crawl", trigger="crawl/start")
async def crawl(ctx):
    step = ctx.step
    pending = set()
    for url in ctx.event.data["urls"]:
        pending.add(url)
    batch = list(pending)  # <- ND502
    label = ", ".join(pending)  # <- ND502
    first = pending.pop()  # <- ND502
    return await step.run("fetch", fetch_all, batch, label, first)


def fetch_all(batch, label, first):
    return batch, label, first
