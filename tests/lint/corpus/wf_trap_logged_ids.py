# expect: none
"""A uuid or a random number that only reaches the log changes nothing on replay."""
import logging
import random
import uuid

import nbdurable as nd

logger = logging.getLogger("flows")


@nd.function(id="logged", trigger="go")
async def logged(ctx):
    step = ctx.step
    trace = uuid.uuid4().hex
    logger.warning("trace %s jitter %.3f", trace, random.random())
    return await step.run("work", work)


def work():
    return 1
