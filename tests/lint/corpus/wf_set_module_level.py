# expect: ND501@14, ND501@15
"""A module-level set constant iterated by the workflow, also inside a gather comprehension."""
import asyncio

import nbdurable as nd

TOOLS = {"search", "browse", "calculator"}
ENABLED = frozenset(["a", "b"])


@nd.function(id="agent", trigger="agent/run")
async def agent(ctx):
    step = ctx.step
    results = await asyncio.gather(*[step.run(f"probe-{t}", probe, t) for t in TOOLS])  # <- ND501
    for flag in ENABLED:  # <- ND501
        await step.run(f"flag-{flag}", probe, flag)
    return results


def probe(tool):
    return tool
