%%durable own-var
# expect: none
"""Rebinding a variable the cell itself created earlier is deterministic."""
acc = []
for i in range(3):
    acc = acc + [await step.run(f"w-{i}", do_work, i)]
best = max(acc)
