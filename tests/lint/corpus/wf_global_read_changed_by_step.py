# expect: ND603@18
"""A global filled inside a step: on replay the step does not run, so the workflow reads it empty."""
import nbdurable as nd

seen_ids = {}


def fetch(key):
    seen_ids[key] = True
    return key


@nd.function(id="dedupe", trigger="item/new")
async def dedupe(ctx):
    step = ctx.step
    key = ctx.event.data["id"]
    await step.run("fetch", fetch, key)
    if key in seen_ids:  # <- ND603
        return "duplicate"
    return await step.run("process", process, key)


def process(key):
    return key
