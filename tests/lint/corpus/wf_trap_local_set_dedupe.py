# expect: none
"""A local set used only to skip duplicates while iterating a list: the order comes from the list."""
import nbdurable as nd


@nd.function(id="dedupe-list", trigger="go")
async def dedupe_list(ctx):
    step = ctx.step
    seen = set()
    kept = []
    for url in ctx.event.data["urls"]:
        if url in seen:
            continue
        seen.add(url)
        kept.append(await step.run(f"fetch-{len(kept)}", fetch, url))
    return {"kept": kept, "unique": len(seen)}


def fetch(url):
    return url
