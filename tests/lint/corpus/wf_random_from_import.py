# expect: ND201@11
"""`from random import choice` is followed."""
from random import choice

import nbdurable as nd


@nd.function(id="pick-model", trigger="ask")
async def pick_model(ctx):
    step = ctx.step
    model = choice(["gpt-4o", "claude"])  # <- ND201
    return await step.run("ask", ask, model, ctx.event.data["q"])


def ask(model, q):
    return model, q
