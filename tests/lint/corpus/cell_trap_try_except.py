%%durable careful
# expect: none
"""try/except, retries counted in a local, ctx.event data: all deterministic."""
failures = 0
for i, item in enumerate(ctx.event.data.get("items", [])):
    try:
        await step.run(f"item-{i}", handle, item)
    except Exception as exc:
        failures += 1
        print("failed:", exc)
summary = {"failures": failures}
