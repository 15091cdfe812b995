# expect: none
"""Everything nondeterministic here runs inside lambdas given to step.run: journaled, fine."""
import os
import random
import time
import uuid

import requests

import nbdurable as nd


@nd.function(id="lambdas", trigger="go")
async def lambdas(ctx):
    step = ctx.step
    ts = await step.run("ts", lambda: time.time())
    n = await step.run("n", lambda: random.randint(1, 6))
    rid = await step.run("rid", lambda: str(uuid.uuid4()))
    env = await step.run("env", lambda: os.environ.get("HOME"))
    page = await step.run("page", lambda url: requests.get(url).text, ctx.event.data["url"])
    await step.run(f"use-{rid}", lambda: (ts, n, env, page))
