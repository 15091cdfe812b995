# expect: none
"""Event data, json parsing and hashlib digests are deterministic inputs for names and steps."""
import hashlib
import json

import nbdurable as nd


@nd.function(id="events", trigger="go")
async def events(ctx):
    step = ctx.step
    payload = json.loads(ctx.event.data["payload"])
    digest = hashlib.sha256(payload["text"].encode()).hexdigest()[:12]
    await step.run(f"embed-{digest}", embed, payload["text"])
    await step.send_event("notify", {"name": "doc/embedded", "data": {"digest": digest}})


def embed(text):
    return text
