# expect: ND331@12, ND331@13
"""Subprocesses run again on every replay and may print something else."""
import os
import subprocess

import nbdurable as nd


@nd.function(id="build", trigger="build/start")
async def build(ctx):
    step = ctx.step
    rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout  # <- ND331
    os.system("make clean")  # <- ND331
    return await step.run("build", do_build, rev)


def do_build(rev):
    return rev
