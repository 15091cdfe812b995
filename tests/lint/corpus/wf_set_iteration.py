# expect: ND501@9, ND501@11, ND501@13
"""Iterating a set of strings: the order changes between processes, and steps follow it."""
import nbdurable as nd


@nd.function(id="tags", trigger="doc/tagged")
async def tags(ctx):
    step = ctx.step
    for tag in set(ctx.event.data["tags"]):  # <- ND501
        await step.run(f"index-{tag}", index, tag)
    for kind in {"pdf", "html"}:  # <- ND501
        await step.run(f"render-{kind}", render, kind)
    firsts = [w[0] for w in {w.lower() for w in ctx.event.data["words"]}]  # <- ND501
    return firsts


def index(tag):
    return tag


def render(kind):
    return kind
