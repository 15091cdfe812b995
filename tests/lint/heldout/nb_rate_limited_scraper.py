# %%
%load_ext nbdurable
import nbdurable as nd
import time
import requests
from bs4 import BeautifulSoup

BASE = "http://books.local"
model = nd.ai.openai("gpt-4o-mini")
seen_urls = set()

# %%
def get_page(url):
    time.sleep(1.0)
    return requests.get(url, timeout=20).text

def links(html):
    soup = BeautifulSoup(html, "html.parser")
    return [a["href"] for a in soup.select("article h3 a")]

# %%
%%durable crawl-books
deadline = time.monotonic() + 15 * 60  # <- ND102
queue = [f"{BASE}/catalogue/page-1.html"]
pages = 0
books = []
while queue and time.monotonic() < deadline:  # <- ND102
    url = queue.pop(0)
    if url in seen_urls:
        continue
    seen_urls.add(url)  # <- ND602
    html = await step.run(f"page-{pages}", get_page, url)
    pages += 1
    books += [f"{BASE}/catalogue/{h}" for h in links(html)]
    if pages < 5:
        queue.append(f"{BASE}/catalogue/page-{pages + 1}.html")
blurbs = await step.ai.infer(
    "blurbs",
    model=model,
    body={"messages": [{"role": "user", "content": f"Write a one-line blurb for each: {books[:30]}"}]},
)
