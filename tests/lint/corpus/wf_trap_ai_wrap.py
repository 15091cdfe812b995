# expect: none
"""LLM calls through step.ai.wrap / step.ai.infer are journaled: fine."""
import anthropic
from openai import AsyncOpenAI

import nbdurable as nd

client = AsyncOpenAI()
claude = anthropic.AsyncAnthropic()


@nd.function(id="ai", trigger="go")
async def ai(ctx):
    step = ctx.step
    plan = await step.ai.wrap(
        "plan",
        client.chat.completions.create,
        model="gpt-4o",
        messages=[{"role": "user", "content": ctx.event.data["q"]}],
    )
    review = await step.ai.wrap("review", claude.messages.create, model="claude", max_tokens=100, messages=[])
    summary = await step.ai.infer("summary", model=ctx.event.data["model"], body={"input": "x"})
    alt = await step.run("alt", lambda: client.responses.create(model="gpt-4o", input="x"))
    return plan, review, summary, alt
