# expect: none
"""Sets of small integers iterate in the same order in every process (int hashes are not randomized)."""
import nbdurable as nd


@nd.function(id="int-set", trigger="go")
async def int_set(ctx):
    step = ctx.step
    for shard in {0, 1, 2, 3}:
        await step.run(f"shard-{shard}", handle, shard)
    for page in set(range(5)):
        await step.run(f"page-{page}", handle, page)


def handle(n):
    return n
