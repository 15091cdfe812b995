# expect: none
"""LangChain calls made through step.ai.wrap or inside step callables are journaled: fine.

Building the model, binding tools and asking for structured output call nothing.
"""
from langchain_anthropic import ChatAnthropic

import nbdurable as nd

claude = ChatAnthropic(model="claude-sonnet-4-5", max_tokens=800)


def summarize(text: str) -> str:
    return claude.invoke(f"Summarize:\n{text}").content


@nd.function(id="lc-fine", trigger="go")
async def lc_fine(ctx):
    structured = claude.with_structured_output(Plan)
    tooled = claude.bind_tools([search]).with_retry(stop_after_attempt=2)
    plan = await ctx.step.ai.wrap("plan", structured.ainvoke, ctx.event.data["goal"])
    answer = await ctx.step.ai.wrap("answer", tooled.invoke, ctx.event.data["goal"])
    summary = await ctx.step.run("summary", summarize, ctx.event.data["text"])
    short = await ctx.step.run("short", lambda: claude.invoke("One line: " + summary).content)
    return plan, answer, short


class Plan:
    steps: list[str]


def search(query: str) -> str:
    return query
