# expect: none
"""step.invoke, wait_for_event and send_event with data from the event are deterministic."""
import nbdurable as nd


@nd.function(id="child", trigger="child")
async def child(ctx):
    return ctx.event.data["n"] * 2


@nd.function(id="parent", trigger="parent")
async def parent(ctx):
    step = ctx.step
    doubled = await step.invoke("child", function=child, data={"n": ctx.event.data["n"]})
    approval = await step.wait_for_event(
        "approval", event="approve", timeout="1h", if_exp="async.data.id == event.data.id"
    )
    await step.send_event("done", {"name": "parent/done", "data": {"doubled": doubled}})
    return approval
