# expect: ND321@15, ND321@16
"""Requests made through client objects (httpx.AsyncClient, a module-level requests.Session)."""
import httpx
import requests

import nbdurable as nd

session = requests.Session()


@nd.function(id="sync", trigger="sync/start")
async def sync(ctx):
    step = ctx.step
    async with httpx.AsyncClient(timeout=10) as client:
        page = (await client.get("https://api.invalid/items")).json()  # <- ND321
    session.post("https://audit.invalid/log", json=page)  # <- ND321
    return await step.run("store", store, page)


def store(page):
    return page
