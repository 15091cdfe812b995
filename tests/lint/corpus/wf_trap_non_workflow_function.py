# expect: none
"""Functions that are not workflows (and not called by one) are not checked."""
import os
import random
import time

import nbdurable as nd


def cli_main():
    print(time.time(), random.random(), os.environ.get("HOME"))


async def background_job():
    return open("log.txt").read()


@nd.function(id="plain", trigger="go")
async def plain(ctx):
    return await ctx.step.run("work", lambda: 1)
