# %% [markdown]
# # Competitor price check
# Scrape the three competitors for our top SKUs, spread over 4 proxy shards, and flag gaps > 10%.

# %%
%load_ext nbdurable
import re

import arrow
import httpx
import pandas as pd

import nbdurable as nd

catalogue = pd.read_csv("catalogue/top_skus.csv").to_dict("records")
COMPETITORS = {"shopA": "http://a.shops.test/p/{sku}", "shopB": "http://b.shops.test/item/{sku}", "shopC": "http://c.shops.test/{sku}"}
PROXIES = ["http://proxy-0.internal:3128", "http://proxy-1.internal:3128", "http://proxy-2.internal:3128", "http://proxy-3.internal:3128"]
web = httpx.Client(timeout=20, headers={"User-Agent": "Mozilla/5.0 (price-check)"})

# %%
def shard_of(sku: str) -> int:
    return hash(sku) % len(PROXIES)


def scrape(shop: str, sku: str, proxy: str) -> float | None:
    with httpx.Client(proxy=proxy, timeout=20) as c:
        html = c.get(COMPETITORS[shop].format(sku=sku)).text
    m = re.search(r'"price"\s*:\s*"?([0-9]+[.,][0-9]{2})', html)
    return float(m.group(1).replace(",", ".")) if m else None


def save_gaps(rows: list[dict], day: str) -> str:
    path = f"reports/price-gaps-{day}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path

# %%
%%durable price-check
skus = {row["sku"] for row in catalogue}
ours = {row["sku"]: row["price"] for row in catalogue}
gaps = []
for sku in skus:  # <- ND501
    shard = shard_of(sku)  # <- ND206
    for shop in COMPETITORS:
        price = await step.run(f"{shop}-{sku}-p{shard}", scrape, shop, sku, PROXIES[shard])  # <- ND701
        if price and abs(price - ours[sku]) / ours[sku] > 0.10:
            gaps.append({"sku": sku, "shop": shop, "theirs": price, "ours": ours[sku]})
if web.get("http://a.shops.test/robots.txt").status_code == 429:  # <- ND321
    await step.sleep("cool-off", "10m")
day = arrow.utcnow().format("YYYY-MM-DD")  # <- ND103
await step.run("save", save_gaps, gaps, day)
print(f"{len(gaps)} gaps")

# %%
%%durable price-check-2
import zlib
gaps = []
for i, row in enumerate(sorted(catalogue, key=lambda r: r["sku"])):
    shard = zlib.crc32(row["sku"].encode()) % len(PROXIES)
    for shop in COMPETITORS:
        price = await step.run(f"{shop}-{i}", scrape, shop, row["sku"], PROXIES[shard])
        if price and abs(price - row["price"]) / row["price"] > 0.10:
            gaps.append({"sku": row["sku"], "shop": shop, "theirs": price, "ours": row["price"]})
day = step.now().strftime("%Y-%m-%d")
await step.run("save", save_gaps, gaps, day)
