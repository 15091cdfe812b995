# expect: ND101@16, ND103@21
"""Arguments to step.run and step.ai.wrap (other than the callable) are computed in workflow code."""
import time
from datetime import date

from openai import OpenAI

import nbdurable as nd

client = OpenAI()


@nd.function(id="args", trigger="go")
async def args(ctx):
    step = ctx.step
    await step.run("fetch", fetch, time.time())  # <- ND101
    await step.ai.wrap(
        "plan",
        client.chat.completions.create,
        model="gpt-4o",
        messages=[{"role": "user", "content": f"Today is {date.today()}"}],  # <- ND103
    )


def fetch(ts):
    return ts
