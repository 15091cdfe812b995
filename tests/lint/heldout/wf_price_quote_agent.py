"""Quote agent: reads a request, checks inventory and FX rates, drafts a quote, waits for a manager."""

import time
from decimal import Decimal

import nbdurable as nd
import redis
import requests

cache = redis.Redis(host="localhost", port=6379, decode_responses=True)
drafter = nd.ai.openai("gpt-4o")


def fx_rate(currency: str) -> float:
    return requests.get("https://fx.local/latest", params={"base": "EUR", "symbols": currency}, timeout=10).json()["rates"][currency]


def stock(sku: str) -> int:
    return int(requests.get(f"https://erp.local/stock/{sku}", timeout=10).json()["available"])


@nd.function(id="quote", trigger="quote/requested")
async def quote(ctx: nd.Context) -> dict:
    req = ctx.event.data
    lines = []
    for item in req["items"]:
        available = await ctx.step.run(f"stock-{item['sku']}", stock, item["sku"])
        lines.append({**item, "available": available})
    cached_rate = cache.get(f"fx:{req['currency']}")  # <- ND322
    rate = float(cached_rate) if cached_rate else await ctx.step.run("fx", fx_rate, req["currency"])
    total = sum(Decimal(str(l["price"])) * l["qty"] for l in lines) * Decimal(str(rate))
    draft = await ctx.step.ai.infer(
        "draft",
        model=drafter,
        body={"messages": [{"role": "user", "content": f"Write a quote for {req['customer']}: {lines}, total {total:.2f} {req['currency']}"}]},
    )
    valid_until = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 14 * 86400))  # <- ND101
    await ctx.step.send_event("notify-manager", "quote/review", {"customer": req["customer"], "total": str(total)})
    decision = await ctx.step.wait_for_event("manager", event="quote/decided", timeout="3d")
    if not decision or not decision.data.get("approved"):
        return {"status": "rejected"}
    return {"status": "sent", "quote": draft["choices"][0]["message"]["content"], "valid_until": valid_until}
