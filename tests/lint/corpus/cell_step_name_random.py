%%durable random-names
# expect: ND201@7, ND701@7
"""A random number in a step name: replay looks for another name and runs the step again."""
import random

for i in range(3):
    await step.run(f"trial-{random.random():.3f}", run_trial, i)  # <- ND201, ND701
