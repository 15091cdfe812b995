# expect: ND312@13, ND312@14, ND312@15
"""More process facts: the working or home directory as a Path, the CPUs this process may use."""
import os
from pathlib import Path

import nbdurable as nd

CACHE = Path.home() / ".cache" / "reports"  # at import: configuration, not flagged


@nd.function(id="facts-more", trigger="go")
async def facts_more(ctx):
    out_dir = Path.cwd() / "out"  # <- ND312
    workers = len(os.sched_getaffinity(0))  # <- ND312
    scratch = Path.home() / "scratch"  # <- ND312
    return await ctx.step.run("plan", plan, str(out_dir), workers, str(scratch), str(CACHE))


def plan(*args):
    return args
