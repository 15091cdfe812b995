# expect: none
"""Printing a set, or logging its joined form, changes nothing on replay."""
import logging

import nbdurable as nd

log = logging.getLogger("wf")


@nd.function(id="show-set", trigger="go")
async def show_set(ctx):
    step = ctx.step
    tags = set(ctx.event.data["tags"])
    print("tags:", tags)
    log.info("tags: %s", ", ".join(tags))
    return await step.run("count", len, sorted(tags))
