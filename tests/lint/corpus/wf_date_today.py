# expect: ND103@11
"""`from datetime import date` and a branch on date.today(): replay on another day takes another path."""
from datetime import date

import nbdurable as nd


@nd.function(id="weekday", trigger="mail/send")
async def weekday(ctx):
    step = ctx.step
    if date.today().weekday() >= 5:  # <- ND103
        await step.sleep("wait-for-monday", "48h")
    await step.run("send", send, ctx.event.data["to"])


def send(to):
    return to
