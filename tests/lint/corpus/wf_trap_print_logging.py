# expect: none
"""Clock reads that only reach print or logging change nothing on replay."""
import logging
import time
from datetime import datetime

import nbdurable as nd

logger = logging.getLogger(__name__)


@nd.function(id="chatty", trigger="go")
async def chatty(ctx):
    step = ctx.step
    t0 = time.perf_counter()
    logger.info("started at %s", datetime.now())
    print("wall clock:", time.time())
    result = await step.run("work", work)
    elapsed = time.perf_counter() - t0
    message = f"done in {elapsed:.2f}s"
    print(message)
    logging.debug("finished %s", time.monotonic())
    return result


def work():
    return 42
