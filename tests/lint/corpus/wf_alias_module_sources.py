# expect: ND311@20, ND311@21, ND311@22, ND102@23, ND103@24, ND102@26
"""Aliases of sources made at module level and used in the body: followed like imports."""
import functools
import os
import time
from datetime import datetime
from os import environ

import nbdurable as nd

getenv = os.environ.get
env_get = environ.get
api_key = functools.partial(os.getenv, "API_KEY")
clock = time.monotonic
now = lambda: datetime.now()  # noqa: E731


@nd.function(id="aliases", trigger="go")
async def aliases(ctx):
    model = getenv("MODEL", "gpt-4o")  # <- ND311
    region = env_get("REGION")  # <- ND311
    key = api_key()  # <- ND311
    t0 = clock()  # <- ND102
    stamp = now()  # <- ND103
    out = await ctx.step.run("call", call, model, region, key, stamp.isoformat())
    if clock() - t0 > 5:  # <- ND102
        await ctx.step.run("slow", note, out)
    return out


def call(*args):
    return args


def note(out):
    return out
