%%durable tally
# expect: ND601@4, ND602@6, ND701@7
"""Bumping and appending to notebook variables defined in other cells: replay does it again."""
n_calls += 1  # <- ND601
r = await step.run("work", do_work)
results.append(r)  # <- ND602
await step.run(f"after-{n_calls}", do_work)  # <- ND701
