# expect: none
"""Step results printed and logged, with clock reads only in the output: nothing differs on replay.

The inputs of every step here come from the event or from journaled values; what is printed
around them (timings, the wall clock) steers nothing.
"""
import time
from datetime import datetime

import nbdurable as nd


@nd.function(id="printed-fine", trigger="go")
async def printed_fine(ctx):
    t0 = time.perf_counter()
    out = await ctx.step.run("save", save, ctx.event.data["rows"])
    print("saved to", out, "at", datetime.now(), f"after {time.perf_counter() - t0:.1f}s")
    print(await ctx.step.run("stamp", save, ctx.step.now().isoformat()))
    ctx.logger.info("%s at %s", await ctx.step.run("check", save, ctx.event.id), time.time())
    score = await grade(ctx.step, ctx.event.data["case"])
    result = await agent.run(ctx.step, ctx.event.data["ticket"])
    ctx.logger.info("score %s, answer %s, wall %s", score, result.answer, datetime.now())
    print(ctx, time.monotonic())
    return out


async def grade(step, case):
    return await step.run("grade", save, case)


def save(*values):
    return list(values)
