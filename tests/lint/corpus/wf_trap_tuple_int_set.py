# expect: none
"""Sets of int tuples and floats hash the same in every process: iteration order is stable."""
import nbdurable as nd


@nd.function(id="grid", trigger="go")
async def grid(ctx):
    step = ctx.step
    for x, y in {(0, 1), (1, 2), (2, 3)}:
        await step.run(f"cell-{x}-{y}", handle, x, y)
    for rate in {0.1, 0.5, 1.0}:
        await step.run(f"rate-{rate}", handle, rate, 0)


def handle(a, b):
    return a, b
