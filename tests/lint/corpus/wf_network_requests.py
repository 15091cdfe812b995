# expect: ND321@11
"""A network call in workflow code runs again on every replay."""
import requests

import nbdurable as nd


@nd.function(id="weather", trigger="weather/check")
async def weather(ctx):
    step = ctx.step
    forecast = requests.get("https://weather.invalid/api").json()  # <- ND321
    if forecast["rain"]:
        await step.run("alert", alert, ctx.event.data["user"])


def alert(user):
    return user
