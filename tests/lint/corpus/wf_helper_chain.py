# expect: ND311@19
"""A helper that calls another helper that reads the environment: reported at the workflow's call."""
import os

import nbdurable as nd


def api_base():
    return os.getenv("API_BASE", "http://127.0.0.1:8000")


def endpoint(path):
    return api_base() + path


@nd.function(id="chain", trigger="go")
async def chain(ctx):
    step = ctx.step
    url = endpoint("/items")  # <- ND311
    return await step.run("get", get, url)


def get(url):
    return url
