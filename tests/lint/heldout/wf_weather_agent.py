"""Plan a weekend trip: look up the forecast for candidate cities and let the model choose."""

import json
import os
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import nbdurable as nd
import requests

model = nd.ai.openai("gpt-4o-mini")
API_KEY_ENV = "WEATHER_KEY"


def forecast(city: str, day: str) -> dict:
    r = requests.get("http://weather.local/v1/forecast", params={"q": city, "date": day,
                     "key": os.environ[API_KEY_ENV]}, timeout=15)
    return r.json()


@nd.function(id="trip", trigger="trip/plan")
async def plan_trip(ctx: nd.Context) -> dict:
    prefs = ctx.event.data
    today = ctx.step.now().astimezone(ZoneInfo(prefs.get("tz", "UTC"))).date()
    saturday = today + timedelta(days=(5 - today.weekday()) % 7)
    cities = prefs["cities"]
    forecasts = {}
    for city in cities:
        forecasts[city] = await ctx.step.run(f"forecast-{city}", forecast, city, saturday.isoformat())
    home = requests.get("http://weather.local/v1/current", params={"q": prefs["home"]}, timeout=15).json()  # <- ND321
    choice = await ctx.step.ai.infer(
        "choose",
        model=model,
        body={"messages": [{"role": "user", "content": f"Home now: {home}. Pick the best city for {saturday}: {json.dumps(forecasts)}"}]},
    )
    holiday = date(saturday.year, 12, 25) == saturday
    return {"city": choice["choices"][0]["message"]["content"], "date": saturday.isoformat(), "holiday": holiday}
