%%durable journaled-cell
# expect: none
"""step.now(), step.uuid() and step.random() in a cell: journaled."""
started = step.now()
run_key = step.uuid()
if step.random() < 0.5:
    await step.run(f"branch-{run_key}", work, started)
