%%durable sorted-cell
# expect: none
"""Sorting a set before iterating it makes the order stable."""
labels = await step.run("labels", load_labels)
for label in sorted(set(labels)):
    await step.run(f"train-{label}", train, label)
n_unique = len(set(labels))
