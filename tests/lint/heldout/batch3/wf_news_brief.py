"""Morning ML news brief: pull several sources in parallel, summarize, publish to the wiki."""

import asyncio

import httpx

import nbdurable as nd

SOURCES = ["hn", "lobsters", "reddit-ml", "arxiv-cs-cl"]
editor = nd.ai.openai("gpt-4o")


async def fetch_source(name: str) -> list[dict]:
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.get(f"http://feeds.acme.internal/{name}.json")
        r.raise_for_status()
        return r.json()["items"][:15]


def publish(markdown: str) -> str:
    r = httpx.put("http://wiki.acme.internal/api/pages/ml-brief", json={"body": markdown}, timeout=20)
    return r.json()["url"]


def brief_body(items: list[dict]) -> dict:
    listing = "\n".join(f"- {i['title']} ({i['url']})" for i in items)
    return {"messages": [{"role": "user", "content": f"Write a 10-bullet ML news brief from:\n{listing}"}]}


@nd.function(id="news-brief", trigger="cron/daily-0630")
async def news_brief(ctx: nd.Context) -> str:
    tasks = [asyncio.create_task(ctx.step.run(f"fetch-{s}", fetch_source, s)) for s in SOURCES]
    done, pending = await asyncio.wait(tasks, timeout=45)  # <- ND503
    for t in pending:
        t.cancel()
    items = []
    for t in done:  # <- ND501
        if t.exception() is None:
            items.extend(t.result())
    resp = await ctx.step.ai.infer("brief", model=editor, body=brief_body(items))
    md = resp["choices"][0]["message"]["content"]
    return await asyncio.wait_for(ctx.step.run("publish", publish, md), timeout=30)  # <- ND503


@nd.function(id="news-brief-v2", trigger="cron/daily-0631")
async def news_brief_v2(ctx: nd.Context) -> str:
    """Every source is awaited; a failing one is skipped, in source order."""
    results = await asyncio.gather(
        *[ctx.step.run(f"fetch-{s}", fetch_source, s, retries=2) for s in SOURCES], return_exceptions=True
    )
    items = [item for r in results if not isinstance(r, BaseException) for item in r]
    failed = [s for s, r in zip(SOURCES, results) if isinstance(r, BaseException)]
    if failed:
        ctx.logger.warning("sources failed: %s", ", ".join(failed))
    resp = await ctx.step.ai.infer("brief", model=editor, body=brief_body(items))
    return await ctx.step.run("publish", publish, resp["choices"][0]["message"]["content"])
