# expect: none
"""Building URLs and client objects is not network I/O; the request itself runs in a step."""
import urllib.parse

import httpx

import nbdurable as nd


@nd.function(id="urls", trigger="go")
async def urls(ctx):
    step = ctx.step
    query = urllib.parse.urlencode({"q": ctx.event.data["q"]})
    url = httpx.URL("https://api.invalid/search?" + urllib.parse.quote(query, safe="=&"))
    timeout = httpx.Timeout(10.0)
    client = httpx.Client(timeout=timeout)
    return await step.run("search", lambda: client.get(url).json())
