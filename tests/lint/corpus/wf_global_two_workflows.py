# expect: ND601@11, ND603@17
"""One workflow bumps a module global; another reads it: both are reported."""
import nbdurable as nd

version = 0


@nd.function(id="publisher", trigger="publish")
async def publisher(ctx):
    global version
    version = version + 1  # <- ND601
    await ctx.step.run("publish", publish, ctx.event.data)


@nd.function(id="reader", trigger="read")
async def reader(ctx):
    current = version  # <- ND603
    return await ctx.step.run("read", read, current)


def publish(data):
    return data


def read(v):
    return v
