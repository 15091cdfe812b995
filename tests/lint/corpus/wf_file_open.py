# expect: ND301@11, ND301@13
"""Reading a file outside a step: its contents may have changed when the run resumes."""
from pathlib import Path

import nbdurable as nd


@nd.function(id="prompted", trigger="ask")
async def prompted(ctx):
    step = ctx.step
    with open("prompt.txt") as fh:  # <- ND301
        prompt = fh.read()
    system = Path("system.md").read_text()  # <- ND301
    return await step.run("ask", ask, system, prompt, ctx.event.data["q"])


def ask(system, prompt, q):
    return system, prompt, q
