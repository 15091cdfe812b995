# expect: ND501@11, ND501@13, ND501@16, ND502@18, ND501@20
"""Sets not spelled set(...): dict-view algebra, set.union(...), annotated sets, formatted sets."""
import nbdurable as nd


@nd.function(id="views", trigger="go")
async def views(ctx):
    step = ctx.step
    old = await step.run("old", load, "old")
    new = await step.run("new", load, "new")
    for key in new.keys() - old.keys():  # <- ND501
        await step.run(f"add-{key}", add, key)
    for key, value in new.items() & old.items():  # <- ND501
        await step.run(f"same-{key}", keep, value)
    everyone = set.union(set(old), set(new))
    ordered = [name.title() for name in everyone]  # <- ND501
    tags: set[str] = set(ctx.event.data["tags"])
    prompt = f"Tag the text with one of {tags}"  # <- ND502
    await step.run("prompt", keep, prompt, ordered)
    await fan_out(step, set(ctx.event.data["ids"]))  # <- ND501


async def fan_out(step, ids: set[str]):
    for i in ids:
        await step.run(f"one-{i}", keep, i)


def load(which):
    return {}


def add(key):
    return key


def keep(*values):
    return values
