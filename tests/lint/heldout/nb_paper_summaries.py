# %% [markdown]
# # Summarize this week's papers
# Pulls new arXiv listings, asks the model for a summary of each, posts a digest.

# %%
%load_ext nbdurable
import nbdurable as nd
import datetime as dt
import json
import pathlib
import random

import feedparser
import requests

model = nd.ai.anthropic("claude-sonnet-4-5")
out_dir = pathlib.Path("digests")
out_dir.mkdir(exist_ok=True)
run_date = dt.date.today()

# %%
def fetch_listing(category: str) -> list[dict]:
    feed = feedparser.parse(f"http://export.arxiv.org/rss/{category}")
    return [{"id": e.id, "title": e.title, "summary": e.summary} for e in feed.entries]


def post_digest(text: str) -> int:
    return requests.post("http://localhost:9000/hooks/digest", json={"text": text}, timeout=10).status_code

# %%
%%durable weekly-digest
papers = []
for cat in ["cs.CL", "cs.LG"]:
    papers += await step.run(f"listing-{cat}", fetch_listing, cat)

sample = random.sample(papers, k=min(20, len(papers)))  # <- ND201
summaries = []
for i, paper in enumerate(sample):
    resp = await step.ai.infer(
        f"summary-{i}",
        model=model,
        body={"messages": [{"role": "user", "content": f"Summarize in 2 sentences:\n{paper['summary']}"}]},
    )
    summaries.append(f"* {paper['title']}: {resp['content'][0]['text']}")

digest = f"Papers for the week of {run_date:%d %b}\n\n" + "\n".join(summaries)  # <- ND103
(out_dir / f"{run_date}.md").write_text(digest)
status = await step.run("post", post_digest, digest)
print("posted", status, "at", dt.datetime.now())
