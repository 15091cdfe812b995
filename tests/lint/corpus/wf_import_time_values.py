# expect: ND101@15, ND205@16, ND701@16
"""Globals set at import from the clock or uuid4: a restarted kernel imports them again with new values."""
import time
import uuid

import nbdurable as nd

STARTED = time.time()
RUN_TAG = uuid.uuid4().hex[:6]


@nd.function(id="import-time", trigger="go")
async def import_time(ctx):
    step = ctx.step
    age = ctx.event.data["ts"] - STARTED  # <- ND101
    await step.run(f"tagged-{RUN_TAG}", work, age)  # <- ND205, ND701


def work(age):
    return age
