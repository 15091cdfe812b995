%%durable ask-model
# expect: ND401@5
"""An LLM call made directly in the cell body instead of through step.ai.wrap."""
question = await step.run("question", load_question)
answer = client.chat.completions.create(  # <- ND401
    model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
)
kept = await step.ai.wrap("kept", client.chat.completions.create, model="gpt-4o-mini", messages=[])
