# expect: none
"""A module helper called directly but doing only deterministic work is fine."""
import math

import nbdurable as nd


def chunk(items, size):
    return [items[i : i + size] for i in range(0, len(items), size)]


def score(values):
    return math.fsum(values) / max(len(values), 1)


@nd.function(id="pure", trigger="go")
async def pure(ctx):
    step = ctx.step
    batches = chunk(ctx.event.data["items"], 10)
    results = []
    for i, batch in enumerate(batches):
        results.append(await step.run(f"batch-{i}", process, batch))
    return score(results)


def process(batch):
    return len(batch)
