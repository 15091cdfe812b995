# expect: ND103@11, ND103@12
"""`from datetime import datetime`: datetime.now() and utcnow() read the clock."""
from datetime import datetime

import nbdurable as nd


@nd.function(id="daily", trigger="cron/daily")
async def daily(ctx):
    step = ctx.step
    today = datetime.now().strftime("%Y-%m-%d")  # <- ND103
    stamp = datetime.utcnow().isoformat()  # <- ND103
    await step.run("archive", archive, today, stamp)


def archive(day, stamp):
    return day, stamp
