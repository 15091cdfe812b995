# expect: ND312@16, ND312@17, ND312@18, ND312@19, ND312@20, ND312@21, ND312@22
"""Facts of the process, host or locale read in the workflow: another machine or restart differs."""
import locale
import os
import platform
import sys
import time

import psutil

import nbdurable as nd


@nd.function(id="facts", trigger="go")
async def facts(ctx):
    lang, _ = locale.getlocale()  # <- ND312
    workers = os.cpu_count() or 2  # <- ND312
    where = os.getcwd()  # <- ND312
    system = platform.system()  # <- ND312
    args = sys.argv[1:]  # <- ND312
    offset = time.timezone  # <- ND312
    busy = psutil.cpu_percent(interval=0.1)  # <- ND312
    if busy > 90:
        workers = 1
    return await ctx.step.run("plan", plan, lang, workers, where, system, args, offset)


def plan(*args):
    return args
