# expect: ND103@19, ND101@21, ND701@22, ND101@22, ND301@28, ND301@29, ND205@30
"""A step's name and inputs matter even when its result only reaches print or logging.

The result being printed says nothing about what went into the step: a clock read in its
arguments, or a value made at import, still gives the step other inputs on replay. The same
for a helper or an agent given the step API: what it is given becomes step inputs.
"""
from datetime import datetime
import time
import uuid

import nbdurable as nd

BATCH = uuid.uuid4().hex


@nd.function(id="printed-results", trigger="go")
async def printed_results(ctx):
    out = await ctx.step.run("save", save, datetime.now().isoformat())  # <- ND103
    print("saved to", out, "at", datetime.now())  # the clock only reaches print
    print(await ctx.step.run("stamp", save, time.time()))  # <- ND101
    ctx.logger.info("%s", await ctx.step.run(f"check-{time.time()}", save, 1))  # <- ND701, ND101
    return out


@nd.function(id="given-the-step", trigger="go")
async def given_the_step(ctx):
    system = open("prompt.txt").read()  # <- ND301
    ticket = open("ticket.txt").read()  # <- ND301
    score = await grade(ctx.step, system, BATCH)  # <- ND205
    result = await agent.run(ctx.step, ticket)
    ctx.logger.info("score %s, answer %s", score, result.answer)


async def grade(step, system, batch):
    return await step.run("grade", save, system, batch)


def save(*values):
    return list(values)
