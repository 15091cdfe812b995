# expect: ND201@28, ND205@30, ND701@30, ND101@31
"""Objects made at import whose methods or attributes the workflow uses: read like helpers and globals."""
import random
import time
import uuid

import nbdurable as nd


class Assistant:
    def __init__(self):
        self.session = uuid.uuid4().hex
        self.started = time.time()
        self.name = "helper"

    def opener(self):
        return random.choice(["Hi", "Hello"])

    def label(self, text):
        return text.strip().lower()


assistant = Assistant()


@nd.function(id="instance", trigger="go")
async def instance(ctx):
    hello = assistant.opener()  # <- ND201
    tag = assistant.label(ctx.event.data["text"])
    await ctx.step.run(f"turn-{assistant.session}", send, hello, tag)  # <- ND205, ND701
    age = ctx.step.now().timestamp() - assistant.started  # <- ND101
    return await ctx.step.run(f"as-{assistant.name}", send, age)


def send(*args):
    return args
