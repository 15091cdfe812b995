%%durable wrap-cell
# expect: none
"""The design doc's example: step.ai.wrap with names from enumerate."""
docs = await step.run("load", load_corpus)
for i, d in enumerate(docs):
    notes = await step.ai.wrap(
        f"read-{i}", client.chat.completions.create, model="gpt-4o", messages=[{"role": "user", "content": d}]
    )
