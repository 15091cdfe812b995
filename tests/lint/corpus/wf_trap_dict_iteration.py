# expect: none
"""Dicts keep insertion order: iterating them, their keys, or dict.fromkeys(list) is deterministic."""
import nbdurable as nd


@nd.function(id="dicts", trigger="go")
async def dicts(ctx):
    step = ctx.step
    scores = ctx.event.data["scores"]
    for name, score in scores.items():
        await step.run(f"score-{name}", handle, score)
    unique = list(dict.fromkeys(ctx.event.data["tags"]))
    for tag in unique:
        await step.run(f"tag-{tag}", handle, tag)
    return list(scores.keys())


def handle(x):
    return x
