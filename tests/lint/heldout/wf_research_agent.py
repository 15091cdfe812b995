"""A research agent: plans queries, searches, reads pages, writes a brief."""

import asyncio
import json
import os
from datetime import datetime, timezone

import httpx
import nbdurable as nd

MODEL = nd.ai.openai("gpt-4o-mini")
SEARCH_URL = os.environ.get("SEARCH_URL", "http://localhost:8080/search")


def search(query: str) -> list[dict]:
    resp = httpx.get(SEARCH_URL, params={"q": query, "n": 5}, timeout=30)
    resp.raise_for_status()
    return resp.json()["results"]


def fetch_page(url: str) -> str:
    return httpx.get(url, timeout=30, follow_redirects=True).text[:20_000]


@nd.function(id="research", trigger="research/requested")
async def research(ctx: nd.Context) -> dict:
    step = ctx.step
    topic = ctx.event.data["topic"]
    today = datetime.now(timezone.utc).date().isoformat()  # <- ND103
    plan = await step.ai.infer(
        "plan",
        model=MODEL,
        body={
            "messages": [
                {"role": "system", "content": f"Today is {today}. Write 3 web search queries as a JSON list."},
                {"role": "user", "content": topic},
            ]
        },
    )
    queries = json.loads(plan["choices"][0]["message"]["content"])

    hits = await asyncio.gather(*[step.run(f"search-{i}", search, q) for i, q in enumerate(queries)])
    urls = {h["url"] for batch in hits for h in batch}
    pages = []
    for url in urls:  # <- ND501
        pages.append(await step.run(f"read:{url}", fetch_page, url))

    brief = await step.ai.infer(
        "brief",
        model=MODEL,
        body={"messages": [{"role": "user", "content": f"Summarize for {topic}:\n\n" + "\n\n".join(pages)}]},
    )
    ctx.logger.info("brief written at %s", datetime.now().isoformat())
    return {"topic": topic, "brief": brief["choices"][0]["message"]["content"], "sources": sorted(urls)}
