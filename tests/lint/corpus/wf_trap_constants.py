# expect: none
"""Module constants read by the workflow, and a registry filled at import time, are stable."""
import nbdurable as nd

MODELS = ["gpt-4o", "claude"]
LIMITS = {"gpt-4o": 128000, "claude": 200000}
REGISTRY = {}


def register(fn):
    REGISTRY[fn.__name__] = fn
    return fn


@register
def summarize(text):
    return text[:100]


@nd.function(id="consts", trigger="go")
async def consts(ctx):
    step = ctx.step
    for i, model in enumerate(MODELS):
        await step.run(f"ask-{i}", REGISTRY["summarize"], model, LIMITS[model])
