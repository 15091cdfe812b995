%%durable gather-cell
# expect: none
"""Parallel steps with asyncio.gather over a list: names from indexes, callables are lambdas."""
import asyncio
import random

urls = await step.run("urls", list_urls)
pages = await asyncio.gather(*[step.run(f"page-{i}", lambda u=u: fetch(u)) for i, u in enumerate(urls)])
shuffled = await step.run("shuffle", lambda: random.sample(pages, len(pages)))
