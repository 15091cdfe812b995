# expect: none
"""Objects made at import with stable attributes, and methods used only inside steps."""
import random

import nbdurable as nd


class Formatter:
    def __init__(self, prefix):
        self.prefix = prefix

    def title(self, text):
        return f"{self.prefix}: {text.title()}"

    def jitter(self):
        return random.random()


fmt = Formatter("report")


@nd.function(id="instance-ok", trigger="go")
async def instance_ok(ctx):
    heading = fmt.title(ctx.event.data["topic"])
    noise = await ctx.step.run("noise", fmt.jitter)
    return await ctx.step.run(f"{fmt.prefix}-save", save, heading, noise)


def save(*args):
    return args
