# expect: ND501@10, ND501@12
"""Set algebra (difference, union) gives sets too; iterating the result has no stable order."""
import nbdurable as nd


@nd.function(id="set-ops", trigger="go")
async def set_ops(ctx):
    step = ctx.step
    known = set(ctx.event.data["known"])
    for name in set(ctx.event.data["all"]) - known:  # <- ND501
        await step.run(f"add-{name}", add, name)
    merged = [n.upper() for n in known.union(ctx.event.data["extra"])]  # <- ND501
    return merged


def add(name):
    return name
