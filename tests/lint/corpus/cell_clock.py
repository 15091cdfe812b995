%%durable clock-cell
# expect: ND103@4, ND101@5
"""A durable cell reading the clock; `datetime` and `time` come from an earlier cell."""
started = datetime.now()  # <- ND103
deadline = time.time() + 60  # <- ND101
docs = await step.run("load", load_corpus)
await step.run("process", process, docs, started, deadline)
