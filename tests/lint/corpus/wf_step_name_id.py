# expect: ND702@10, ND702@11
"""id() and hash() differ between processes; a step name built from them is not found on replay."""
import nbdurable as nd


@nd.function(id="objs", trigger="objs")
async def objs(ctx):
    step = ctx.step
    for item in ctx.event.data["items"]:
        await step.run(f"item-{id(item)}", handle, item)  # <- ND702
        await step.run(f"hash-{hash(item['name'])}", handle, item)  # <- ND702


def handle(item):
    return item
