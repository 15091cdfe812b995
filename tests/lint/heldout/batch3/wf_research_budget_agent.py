"""Deep-research agent: search, read, take notes until the time budget is spent, then write."""

import asyncio
import time

import httpx

import nbdurable as nd

planner = nd.ai.anthropic("claude-sonnet-4-5")
SEARCH = "http://search.acme.internal/api/search"


def web_search(query: str) -> list[dict]:
    r = httpx.get(SEARCH, params={"q": query, "n": 5}, timeout=20)
    r.raise_for_status()
    return r.json()["results"]


def read_page(url: str) -> str:
    r = httpx.get(url, timeout=30, follow_redirects=True)
    return r.text[:20000]


def ask(question: str, notes: list[str]) -> dict:
    joined = "\n".join(notes[-20:])
    return {
        "max_tokens": 400,
        "messages": [{"role": "user", "content": f"Question: {question}\nNotes so far:\n{joined}\n\nNext search query?"}],
    }


@nd.function(id="deep-research")
async def research(ctx: nd.Context) -> str:
    question = ctx.event.data["question"]
    budget_s = float(ctx.event.data.get("budget_s", 600))
    deadline = time.monotonic() + budget_s  # <- ND102
    notes: list[str] = []
    i = 0
    while time.monotonic() < deadline and i < 30:  # <- ND102
        plan = await ctx.step.ai.infer(f"plan-{i}", model=planner, body=ask(question, notes))
        query = plan["content"][0]["text"].strip()
        hits = await ctx.step.run(f"search-{i}", web_search, query)
        pages = await asyncio.gather(*[ctx.step.run(f"read-{i}-{k}", read_page, h["url"]) for k, h in enumerate(hits[:3])])
        notes += [f"[{h['title']}] {p[:500]}" for h, p in zip(hits, pages)]
        i += 1
    final = await ctx.step.ai.infer(
        "write", model=planner, body={"max_tokens": 2000, "messages": [{"role": "user", "content": "\n".join(notes)}]}
    )
    return final["content"][0]["text"]


@nd.function(id="deep-research-v2")
async def research_v2(ctx: nd.Context) -> str:
    """Budget measured with the journaled clock: the loop takes the same path on replay."""
    question = ctx.event.data["question"]
    start = ctx.step.now()
    budget_s = float(ctx.event.data.get("budget_s", 600))
    notes: list[str] = []
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for i in range(30):
        if (ctx.step.now() - start).total_seconds() > budget_s:
            break
        plan = await ctx.step.ai.infer(f"plan-{i}", model=planner, body=ask(question, notes))
        hits = await ctx.step.run(f"search-{i}", web_search, plan["content"][0]["text"].strip())
        pages = await asyncio.gather(*[ctx.step.run(f"read-{i}-{k}", read_page, h["url"]) for k, h in enumerate(hits[:3])])
        notes += [p[:500] for p in pages]
    ctx.logger.info("research loop took %.0fs of wall time", loop.time() - t0)
    final = await ctx.step.ai.infer(
        "write", model=planner, body={"max_tokens": 2000, "messages": [{"role": "user", "content": "\n".join(notes)}]}
    )
    return final["content"][0]["text"]
