# expect: ND601@12, ND701@13
"""A module-level counter bumped by the workflow: replay bumps it again, and step names follow it."""
import nbdurable as nd

calls = 0


@nd.function(id="poller", trigger="poll")
async def poller(ctx):
    global calls
    step = ctx.step
    calls += 1  # <- ND601
    await step.run(f"poll-{calls}", poll)  # <- ND701


def poll():
    return True
