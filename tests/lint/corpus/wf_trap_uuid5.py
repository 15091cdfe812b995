# expect: none
"""uuid5 / uuid3 derive an id from data, and uuid.UUID parses one: all deterministic."""
import uuid

import nbdurable as nd


@nd.function(id="uuid5", trigger="go")
async def uuid5(ctx):
    step = ctx.step
    key = uuid.uuid5(uuid.NAMESPACE_URL, ctx.event.data["url"])
    legacy = uuid.uuid3(uuid.NAMESPACE_DNS, "example.org")
    parsed = uuid.UUID(ctx.event.data["id"])
    await step.run(f"doc-{key}", handle, legacy, parsed)


def handle(a, b):
    return a, b
