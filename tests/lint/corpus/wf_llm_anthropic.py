# expect: ND401@15, ND401@16
"""Anthropic messages.create and OpenAI responses.create outside step.ai."""
import anthropic
import openai

import nbdurable as nd

claude = anthropic.Anthropic()
oai = openai.OpenAI()


@nd.function(id="draft", trigger="draft/requested")
async def draft(ctx):
    step = ctx.step
    outline = claude.messages.create(model="claude-sonnet-4", max_tokens=500, messages=[])  # <- ND401
    critique = oai.responses.create(model="gpt-4o", input="critique")  # <- ND401
    await step.run("save", save, outline, critique)


def save(outline, critique):
    return outline, critique
