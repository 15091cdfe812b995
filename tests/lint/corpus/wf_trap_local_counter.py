# expect: none
"""Local counters, nonlocal closures and loop indexes are deterministic."""
import nbdurable as nd


@nd.function(id="counters", trigger="go")
async def counters(ctx):
    step = ctx.step
    attempts = 0
    seen = []

    def bump():
        nonlocal attempts
        attempts += 1
        return attempts

    for i, doc in enumerate(ctx.event.data["docs"]):
        bump()
        seen.append(doc)
        await step.run(f"read-{i}", read, doc)
    await step.run(f"final-{attempts}", read, seen)


def read(doc):
    return doc
