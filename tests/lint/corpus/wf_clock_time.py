# expect: ND101@11
"""The wall clock read in workflow code becomes a step input: replay passes another value."""
import time

import nbdurable as nd


@nd.function(id="report", trigger="report/requested")
async def report(ctx):
    step = ctx.step
    started = time.time()  # <- ND101
    rows = await step.run("load", load_rows, ctx.event.data["table"])
    return await step.run("summarize", summarize, rows, started)


def load_rows(table):
    return [table]


def summarize(rows, started):
    return {"rows": len(rows), "started": started}
