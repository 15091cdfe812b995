"""Check competitor prices every morning, alert when ours is higher."""

import csv
import io
import locale
import time

import nbdurable as nd
import requests

COMPETITORS = ["shop-a.example", "shop-b.example"]
session = requests.Session()


def scrape_price(site: str, sku: str) -> float:
    html = session.get(f"https://{site}/p/{sku}", timeout=20).text
    start = html.index('itemprop="price" content="') + len('itemprop="price" content="')
    return float(html[start : html.index('"', start)])


def our_prices() -> dict[str, float]:
    text = requests.get("http://erp.local/export/prices.csv", timeout=20).text
    return {row["sku"]: float(row["price"]) for row in csv.DictReader(io.StringIO(text))}


def notify(lines: list[str]) -> None:
    requests.post("http://chat.local/hooks/pricing", json={"text": "\n".join(lines)}, timeout=10)


@nd.function(id="prices", trigger="cron/daily")
async def price_watch(ctx: nd.Context) -> int:
    step = ctx.step
    ours = await step.run("ours", our_prices)
    lang, _ = locale.getlocale()  # <- ND312
    alerts = []
    for sku, price in sorted(ours.items()):
        for site in COMPETITORS:
            theirs = await step.run(f"{site}:{sku}", scrape_price, site, sku)
            if theirs < price * 0.97:
                shown = f"{theirs:.2f}" if lang and lang.startswith("en") else f"{theirs:.2f}".replace(".", ",")
                alerts.append(f"{sku}: {site} sells at {shown} (we ask {price:.2f})")
    if alerts:
        await step.run("notify", notify, alerts)
    await step.sleep_until("tomorrow", time.time() + 86400)  # <- ND101
    return len(alerts)
