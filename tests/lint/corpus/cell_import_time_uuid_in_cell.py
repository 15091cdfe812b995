%%durable cell-own-uuid
# expect: ND205@6, ND701@8
"""A uuid made in the cell itself is made again on every replay, and named steps follow it."""
import uuid

batch = uuid.uuid4().hex  # <- ND205
for i in range(2):
    await step.run(f"{batch}-{i}", work, i)  # <- ND701
