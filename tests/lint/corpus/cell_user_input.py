%%durable review
# expect: ND341@5, ND701@7
"""A cell that asks which drafts to keep: on replay it asks again."""
drafts = await step.run("drafts", make_drafts)
keep = input("Which drafts? ")  # <- ND341
for i in [int(k) for k in keep.split(",")]:
    await step.run(f"publish-{i}", publish, drafts[i])  # <- ND701
answer = await step.wait_for_event("approved", event="review/approved", timeout="1d")
