%%durable label-sets
# expect: ND501@5
"""Iterating a set of labels in a cell: the order differs in the next kernel."""
labels = await step.run("labels", load_labels)
for label in set(labels):  # <- ND501
    await step.run(f"train-{label}", train, label)
