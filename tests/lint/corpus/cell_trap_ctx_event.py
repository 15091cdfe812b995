%%durable from-event
# expect: none
"""`ctx` in a cell is the run context; its event data is journaled with the run."""
user = ctx.event.data["user"]
for i, item in enumerate(ctx.event.data["items"]):
    await step.run(f"{user}-{i}", handle, item)
await step.send_event("done", {"name": "cell/done", "data": {"user": user}})
