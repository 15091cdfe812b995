"""Crawl our public docs from the sitemap and keep a clean text copy per page for the search index."""

import random
import re
from urllib.parse import urljoin, urlparse

import httpx
from selectolax.parser import HTMLParser

import nbdurable as nd

SITE = "http://docs.shop.internal"
UA = {"User-Agent": "acme-docs-crawler/1.2 (+ops@acme.test)"}


async def fetch_html(url: str) -> str:
    async with httpx.AsyncClient(timeout=20, follow_redirects=True, headers=UA) as c:
        r = await c.get(url)
        r.raise_for_status()
        return r.text


def fetch_sitemap() -> list[str]:
    xml = httpx.get(urljoin(SITE, "/sitemap.xml"), headers=UA, timeout=20).text
    return re.findall(r"<loc>(.*?)</loc>", xml)


def extract(html: str, url: str) -> dict:
    tree = HTMLParser(html)
    title = tree.css_first("title")
    main = tree.css_first("main") or tree.body
    return {"url": url, "title": title.text() if title else "", "text": main.text(separator=" ") if main else ""}


@nd.function(id="crawl-docs", concurrency=nd.Concurrency(1))
async def crawl(ctx: nd.Context) -> list[dict]:
    sitemap = httpx.get(urljoin(SITE, "/sitemap.xml"), headers=UA, timeout=20).text  # <- ND321
    locs = re.findall(r"<loc>(.*?)</loc>", sitemap)
    urls = set(u.split("#")[0] for u in locs)
    pages = []
    for n, url in enumerate(urls):  # <- ND501
        if n and n % 20 == 0:
            # be nice to the docs server
            await ctx.step.sleep(f"pause-{n}", random.uniform(5, 15))  # <- ND201
        html = await ctx.step.run(f"get-{n}", fetch_html, url)
        pages.append(extract(html, url))
    return pages


@nd.function(id="crawl-docs-v2", concurrency=nd.Concurrency(1))
async def crawl_v2(ctx: nd.Context) -> list[dict]:
    """Same thing, replay-safe: the sitemap is a step and the order is sorted."""
    locs = await ctx.step.run("sitemap", fetch_sitemap)
    urls = sorted(set(u.split("#")[0] for u in locs))
    only = ctx.event.data.get("section")
    if only:
        urls = [u for u in urls if urlparse(u).path.startswith(f"/{only}/")]
    jitter = random.Random(ctx.run_id)
    pages = []
    seen_titles = set()
    for n, url in enumerate(urls):
        if n and n % 20 == 0:
            await ctx.step.sleep(f"pause-{n}", jitter.uniform(5, 15))
        html = await ctx.step.run(f"get-{n}", fetch_html, url)
        page = extract(html, url)
        if page["title"] in seen_titles:
            continue
        seen_titles.add(page["title"])
        pages.append(page)
    return pages
