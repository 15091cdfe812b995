%%durable printed
# expect: ND103@4, ND301@6
"""In a cell: a step's inputs matter although its result is only printed; so do an agent's."""
out = await step.run("save", save, rows, f"results/rag-{datetime.now():%Y%m%d}.json")  # <- ND103
print("saved to", out, "at", datetime.now().strftime("%H:%M"))
ticket = open("tickets/4412.txt").read()  # <- ND301
result = await agent.run(step, ticket)
print(result.answer, time.time())
