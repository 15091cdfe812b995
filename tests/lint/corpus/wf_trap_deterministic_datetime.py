# expect: none
"""Date and time computed from data (not from the clock) is deterministic."""
import time
from datetime import date, datetime, timedelta, timezone

import nbdurable as nd


@nd.function(id="dates", trigger="go")
async def dates(ctx):
    step = ctx.step
    ts = ctx.event.data["ts"]
    when = datetime.fromtimestamp(ts, tz=timezone.utc)
    epoch = datetime(2024, 1, 1, tzinfo=timezone.utc)
    day = date.fromisoformat(ctx.event.data["day"])
    parts = time.gmtime(ts)
    label = time.strftime("%Y-%m-%d", parts)
    await step.run(f"day-{label}", handle, when - epoch + timedelta(days=1), day)


def handle(delta, day):
    return delta, day
