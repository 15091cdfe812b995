# expect: ND101@10, ND101@11
"""`import time as t` is followed, and time_ns and localtime() read the clock too."""
import time as t

from nbdurable import function


@function(id="stamp", trigger="stamp/requested")
async def stamp(ctx):
    token = t.time_ns()  # <- ND101
    hour = t.localtime().tm_hour  # <- ND101
    await ctx.step.run("store", store, token, hour)


def store(token, hour):
    return (token, hour)
