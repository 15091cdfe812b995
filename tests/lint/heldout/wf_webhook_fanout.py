"""Deliver an event to every subscriber's webhook, with an idempotency key, and record failures."""

import uuid

import httpx
import nbdurable as nd

SUBSCRIBERS_URL = "http://subs.local/api/subscribers"


def subscribers(topic: str) -> list[dict]:
    return httpx.get(SUBSCRIBERS_URL, params={"topic": topic}, timeout=10).json()


def deliver(url: str, payload: dict, key: str) -> int:
    r = httpx.post(url, json=payload, headers={"Idempotency-Key": key}, timeout=15)
    return r.status_code


@nd.function(id="fanout", trigger="events/publish", retries=5)
async def fanout(ctx: nd.Context) -> dict:
    payload = ctx.event.data["payload"]
    subs = await ctx.step.run("subscribers", subscribers, ctx.event.data["topic"])
    delivery_id = str(uuid.uuid4())  # <- ND205
    failures = []
    for sub in subs:
        status = await ctx.step.run(f"deliver-{hash(sub['url'])}", deliver, sub["url"], payload, delivery_id)  # <- ND702
        if status >= 400:
            failures.append(sub["url"])
    if failures:
        await ctx.step.run(f"record-failures-{id(failures)}", record, failures)  # <- ND702
    return {"delivered": len(subs) - len(failures), "failed": len(failures)}


def record(urls: list[str]) -> None:
    with open("failed_deliveries.log", "a") as f:
        f.write("\n".join(urls) + "\n")
