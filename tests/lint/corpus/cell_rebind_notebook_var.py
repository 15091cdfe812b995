%%durable grow
# expect: ND601@5
"""`x = x + [...]` on a notebook variable grows it again on every replay."""
r = await step.run("work", do_work)
history = history + [r]  # <- ND601
