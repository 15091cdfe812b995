# expect: none
"""Local functions passed to step.run by name are step code, not workflow code."""
import subprocess
from datetime import datetime

import httpx

import nbdurable as nd


@nd.function(id="local-defs", trigger="go")
async def local_defs(ctx):
    step = ctx.step

    async def fetch(url):
        async with httpx.AsyncClient() as client:
            return (await client.get(url)).json()

    def stamp():
        return datetime.now().isoformat()

    def shell():
        return subprocess.run(["ls"], capture_output=True, text=True).stdout

    data = await step.run("fetch", fetch, ctx.event.data["url"])
    when = await step.run("stamp", stamp)
    listing = await step.run("ls", shell)
    return data, when, listing
