%%durable config
# expect: ND311@6, ND301@7
"""Environment and file reads in a cell body."""
import os

model = os.environ.get("MODEL", "gpt-4o")  # <- ND311
with open("prompt.txt") as f:  # <- ND301
    prompt = f.read()
reply = await step.run("ask", ask, model, prompt)
