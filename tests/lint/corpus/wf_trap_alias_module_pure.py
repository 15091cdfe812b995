# expect: none
"""Module-level aliases of pure functions, and sources aliased but only used inside steps."""
import functools
import json
import os
import time

import nbdurable as nd

dumps = functools.partial(json.dumps, sort_keys=True)
join = os.path.join
getenv = os.environ.get
stamp = lambda: time.time()  # noqa: E731
upper = lambda s: s.upper()  # noqa: E731


@nd.function(id="pure-aliases", trigger="go")
async def pure_aliases(ctx):
    body = dumps(ctx.event.data)
    path = join("out", upper(ctx.event.data["name"]))
    model = await ctx.step.run("model", lambda: getenv("MODEL", "gpt-4o"))
    started = await ctx.step.run("started", stamp)
    return await ctx.step.run("save", save, path, body, model, started)


def save(*args):
    return args
