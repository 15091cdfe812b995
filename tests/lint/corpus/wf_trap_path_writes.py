# expect: none
"""Opening files only for writing or appending reads nothing."""
from pathlib import Path

import nbdurable as nd


@nd.function(id="writes", trigger="go")
async def writes(ctx):
    step = ctx.step
    result = await step.run("compute", compute)
    out = Path(ctx.event.data["dir"]) / "result.txt"
    with out.open("w") as fh:
        fh.write(str(result))
    with open("audit.log", mode="a") as log_file:
        log_file.write("done\n")
    return result


def compute():
    return 1
