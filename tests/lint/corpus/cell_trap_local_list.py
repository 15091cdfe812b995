%%durable local-state
# expect: none
"""Lists and counters created by the cell itself start fresh on every replay: deterministic."""
results = []
total = 0
for i in range(3):
    r = await step.run(f"work-{i}", do_work, i)
    results.append(r)
    total += r
summary = {"total": total, "n": len(results)}
