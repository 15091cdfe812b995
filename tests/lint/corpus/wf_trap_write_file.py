# expect: none
"""Writing a file or setting an environment variable is not a read: not reported."""
import os
from pathlib import Path

import nbdurable as nd


@nd.function(id="writer", trigger="go")
async def writer(ctx):
    step = ctx.step
    result = await step.run("compute", compute)
    with open("out.json", "w") as fh:
        fh.write(str(result))
    Path("out.txt").write_text(str(result))
    os.environ["LAST_RESULT"] = str(result)
    return result


def compute():
    return 1
