# expect: none
"""Module functions given to step.run (directly or through functools.partial) are step code."""
import functools
import random
import time

import requests

import nbdurable as nd


def fetch(url, timeout):
    started = time.time()
    body = requests.get(url, timeout=timeout).text
    return body, time.time() - started


def roll():
    return random.random()


@nd.function(id="helpers", trigger="go")
async def helpers(ctx):
    step = ctx.step
    body = await step.run("fetch", functools.partial(fetch, timeout=5), ctx.event.data["url"])
    luck = await step.run("roll", roll)
    return body, luck
