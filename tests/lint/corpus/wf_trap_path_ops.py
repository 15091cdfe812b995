# expect: none
"""Pure path arithmetic (joining, suffixes, names) does not touch the file system."""
import os.path
from pathlib import Path

import nbdurable as nd


@nd.function(id="paths", trigger="go")
async def paths(ctx):
    step = ctx.step
    base = Path(ctx.event.data["dir"])
    target = base / "out" / (Path(ctx.event.data["file"]).stem + ".json")
    legacy = os.path.join(ctx.event.data["dir"], "legacy.txt")
    await step.run(f"write-{target.name}", write, str(target), legacy, target.suffix)


def write(path, legacy, suffix):
    return path, legacy, suffix
