# expect: ND501@10, ND501@12, ND501@15
"""Loops over a set whose outcome does depend on the order: appending, assigning, breaking."""
import nbdurable as nd


@nd.function(id="order-matters", trigger="go")
async def order_matters(ctx):
    names = set(ctx.event.data["names"])
    ordered = []
    for name in names:  # <- ND501
        ordered.append(name)
    for name in names:  # <- ND501
        first = name
        break
    for name in names:  # <- ND501
        await ctx.step.run(f"greet-{name}", greet, name)
    return await ctx.step.run("all", greet, ordered, first)


def greet(*args):
    return args
