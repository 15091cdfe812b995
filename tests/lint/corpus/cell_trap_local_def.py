%%durable local-defs-cell
# expect: none
"""Functions defined in the cell and passed to step.run by name are step code."""
import os

import requests


def fetch(url):
    token = os.environ["TOKEN"]
    return requests.get(url, headers={"Authorization": token}).json()


async def summarize(doc):
    return await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": doc}])


data = await step.run("fetch", fetch, "https://example.invalid")
summary = await step.run("summarize", summarize, data["text"])
