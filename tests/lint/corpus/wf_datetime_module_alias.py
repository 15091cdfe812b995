# expect: ND103@11, ND103@12
"""`import datetime as dt` is followed through dt.datetime.now and dt.date.today."""
import datetime as dt

import nbdurable as nd


@nd.function(id="invoice", trigger="billing/cycle")
async def invoice(ctx):
    step = ctx.step
    issued = dt.datetime.now(dt.timezone.utc)  # <- ND103
    due = dt.date.today() + dt.timedelta(days=30)  # <- ND103
    return await step.run("issue", issue, ctx.event.data["customer"], issued, due)


def issue(customer, issued, due):
    return customer, issued, due
