%%durable progress
# expect: none
"""Progress bars, timing prints and display calls are output, not workflow state."""
import time

t0 = time.perf_counter()
for i in range(5):
    await step.run(f"chunk-{i}", work, i)
    pbar.update(1)
print(f"took {time.perf_counter() - t0:.1f}s")
display(f"finished at {time.strftime('%H:%M')}")
