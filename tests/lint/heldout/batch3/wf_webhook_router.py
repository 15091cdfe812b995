"""Fan app events out to customers' webhooks, with per-customer endpoint lookup."""

import hmac
import json
import time
from hashlib import sha256

import httpx

import nbdurable as nd


class DeliveryTracker:
    """Groups deliveries into 5-minute windows so retries of one burst share a key."""

    def __init__(self, window_s: int = 300) -> None:
        self.window_s = window_s

    def window(self) -> int:
        return int(time.time() // self.window_s)

    def key_for(self, event_name: str, customer: str) -> str:
        return f"{event_name}:{customer}"


tracker = DeliveryTracker()
_endpoint_cache: dict[str, dict] = {}


def resolve_endpoint(customer: str) -> dict:
    resp = httpx.get(f"http://accounts.internal/customers/{customer}/webhook", timeout=10)
    resp.raise_for_status()
    cfg = resp.json()
    _endpoint_cache[customer] = cfg
    return cfg


def deliver(endpoint: dict, payload: dict) -> int:
    body = json.dumps(payload, sort_keys=True).encode()
    sig = hmac.new(endpoint["secret"].encode(), body, sha256).hexdigest()
    resp = httpx.post(endpoint["url"], content=body, headers={"X-Acme-Signature": sig}, timeout=15)
    if resp.status_code >= 500:
        resp.raise_for_status()
    return resp.status_code


@nd.function(id="webhook-router", trigger="app/*", retries=5)
async def route(ctx: nd.Context) -> int:
    customer = ctx.event.data["customer_id"]
    key = tracker.key_for(ctx.event.name, customer)
    endpoint = _endpoint_cache.get(customer)  # <- ND603
    if endpoint is None:
        endpoint = await ctx.step.run("resolve", resolve_endpoint, customer)
    if not endpoint.get("enabled", True):
        return 0
    window = tracker.window()  # <- ND101
    payload = {"event": ctx.event.name, "id": ctx.event.id, "key": key, "data": ctx.event.data}
    return await ctx.step.run(f"deliver-{window}", deliver, endpoint, payload)  # <- ND701


@nd.function(id="webhook-router-v2", trigger="app2/*", retries=5)
async def route_v2(ctx: nd.Context) -> int:
    customer = ctx.event.data["customer_id"]
    endpoint = await ctx.step.run("resolve", resolve_endpoint, customer)
    if not endpoint.get("enabled", True):
        return 0
    started = time.monotonic()
    payload = {"event": ctx.event.name, "id": ctx.event.id, "key": tracker.key_for(ctx.event.name, customer)}
    status = await ctx.step.run("deliver", deliver, endpoint, payload)
    ctx.logger.info("delivered %s to %s in %.2fs", ctx.event.id, customer, time.monotonic() - started)
    return status
