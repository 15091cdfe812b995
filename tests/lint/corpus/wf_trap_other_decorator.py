# expect: none
"""A function decorated by another library's `.function` is not an nbdurable workflow."""
import time

import modal

import nbdurable as nd

app = modal.App("other")


@app.function()
async def remote_job(ctx):
    return time.time()


@nd.function(id="real", trigger="go")
async def real(ctx):
    return await ctx.step.run("call", remote_job.remote, ctx)
