# expect: none
"""step.now(), step.uuid() and step.random() are journaled; names built from them are stable."""
import nbdurable as nd


@nd.function(id="journaled", trigger="go")
async def journaled(ctx):
    step = ctx.step
    now = step.now()
    run_key = step.uuid()
    coin = step.random()
    await step.run(f"report-{now:%Y%m%d}", report, run_key.hex)
    if coin < 0.5:
        await step.run(f"heads-{run_key}", report, "heads")


def report(value):
    return value
