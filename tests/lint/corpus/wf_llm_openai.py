# expect: ND401@13
"""An OpenAI chat completion called directly in workflow code: each replay calls (and pays) again."""
from openai import AsyncOpenAI

import nbdurable as nd

client = AsyncOpenAI()


@nd.function(id="triage", trigger="ticket/created")
async def triage(ctx):
    step = ctx.step
    reply = await client.chat.completions.create(  # <- ND401
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": ctx.event.data["body"]}],
    )
    label = reply.choices[0].message.content
    await step.run("route", route, label)


def route(label):
    return label
