"""Translate a product catalog into several languages, reviewing each with a second model."""

import asyncio
import os

import nbdurable as nd

translator = nd.ai.openai("gpt-4o-mini")
reviewer = nd.ai.anthropic("claude-sonnet-4-5")
LANGS = frozenset({"de", "fr", "es", "ja"})
MAX_PARALLEL = os.cpu_count() or 4


async def translate_one(step, item: dict, lang: str) -> dict:
    first = await step.ai.infer(
        f"tr-{item['sku']}-{lang}",
        model=translator,
        body={"messages": [{"role": "user", "content": f"Translate to {lang}: {item['description']}"}]},
    )
    text = first["choices"][0]["message"]["content"]
    check = await step.ai.infer(
        f"review-{item['sku']}-{lang}",
        model=reviewer,
        body={"messages": [{"role": "user", "content": f"Fix any errors in this {lang} text, reply with the text only: {text}"}]},
    )
    return {"sku": item["sku"], "lang": lang, "text": check["content"][0]["text"]}


@nd.function(id="translate", trigger="catalog/updated")
async def translate_catalog(ctx: nd.Context) -> list[dict]:
    items = ctx.event.data["items"]
    wanted = set(ctx.event.data.get("langs", LANGS)) & LANGS
    sem = asyncio.Semaphore(MAX_PARALLEL)

    async def guarded(item, lang):
        async with sem:
            return await translate_one(ctx.step, item, lang)

    jobs = [guarded(item, lang) for item in items for lang in wanted]  # <- ND501
    results = await asyncio.gather(*jobs)
    await ctx.step.run("publish", publish, results)
    return results


def publish(results: list[dict]) -> None:
    import json

    with open("catalog_translations.json", "w") as f:
        json.dump(results, f)
