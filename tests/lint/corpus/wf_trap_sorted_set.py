# expect: none
"""Sets used in order-free ways: sorted(), len, membership, sum/any over them, set comprehensions."""
import nbdurable as nd


@nd.function(id="sorted-set", trigger="go")
async def sorted_set(ctx):
    step = ctx.step
    tags = set(ctx.event.data["tags"])
    for tag in sorted(tags):
        await step.run(f"tag-{tag}", handle, tag)
    for kind in sorted({"pdf", "html"}):
        await step.run(f"kind-{kind}", handle, kind)
    lowered = {t.lower() for t in tags}
    total = sum(len(t) for t in tags)
    has_urgent = any(t == "urgent" for t in tags)
    ordered = sorted(list(tags))
    if "vip" in lowered and len(tags) > 2:
        await step.run("vip", handle, ordered, total, has_urgent)
    return ", ".join(sorted(tags))


def handle(*args):
    return args
